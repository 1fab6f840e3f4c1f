// Package app holds the health service's use cases.
package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/secure-agent/secure-agent/libs/daprclient"
)

var appIDPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ParseAppIDs splits and validates a comma-separated list of Dapr app ids.
func ParseAppIDs(s string) ([]string, error) {
	var ids []string
	seen := map[string]bool{}
	for _, id := range strings.Split(s, ",") {
		id = strings.TrimSpace(id)
		if id == "" {
			continue
		}
		if !appIDPattern.MatchString(id) {
			return nil, fmt.Errorf("%q is not a valid app id (lower-case letters, digits and '-')", id)
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("no app ids given; list the apps to watch, e.g. orchestrator,extractor,publisher")
	}
	return ids, nil
}

// Sidecar is what status needs from this app's own Dapr sidecar.
type Sidecar interface {
	Healthy(ctx context.Context) error
	Metadata(ctx context.Context) (*daprclient.Metadata, error)
	Invoke(ctx context.Context, appID, verb, method string) (*daprclient.InvokeResult, error)
}

// Status reports the readiness of every watched app through its sidecar.
type Status struct {
	apps    []string
	sidecar Sidecar
}

func NewStatus(apps []string, sidecar Sidecar) *Status { return &Status{apps: apps, sidecar: sidecar} }

// AppStatus is one app as seen through service invocation.
type AppStatus struct {
	Ready  bool            `json:"ready"`
	Error  string          `json:"error,omitempty"`
	Checks json.RawMessage `json:"checks,omitempty"`
	RTTms  int64           `json:"rtt_ms"`
}

// Report is the answer of GET /v1/status.
type Report struct {
	Healthy    bool                 `json:"healthy"`
	Sidecar    SidecarStatus        `json:"sidecar"`
	Apps       map[string]AppStatus `json:"apps"`
	CheckedAt  time.Time            `json:"checked_at"`
	DurationMs int64                `json:"duration_ms"`
}

// SidecarStatus is health's own sidecar and the components it loaded.
type SidecarStatus struct {
	Healthy        bool     `json:"healthy"`
	Error          string   `json:"error,omitempty"`
	RuntimeVersion string   `json:"runtime_version,omitempty"`
	Components     []string `json:"components,omitempty"`
}

// Check asks every app's /readyz in parallel, each within the context's bound.
func (s *Status) Check(ctx context.Context) Report {
	start := time.Now()
	r := Report{Apps: make(map[string]AppStatus, len(s.apps)), CheckedAt: start.UTC()}
	if md, err := s.sidecar.Metadata(ctx); err != nil {
		r.Sidecar.Error = err.Error()
	} else {
		r.Sidecar.Healthy = true
		r.Sidecar.RuntimeVersion = md.RuntimeVersion
		for _, c := range md.Components {
			r.Sidecar.Components = append(r.Sidecar.Components, c.Name+" ("+c.Type+")")
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, id := range s.apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := s.checkApp(ctx, id)
			mu.Lock()
			r.Apps[id] = st
			mu.Unlock()
		}()
	}
	wg.Wait()
	r.Healthy = r.Sidecar.Healthy
	for _, st := range r.Apps {
		r.Healthy = r.Healthy && st.Ready
	}
	r.DurationMs = time.Since(start).Milliseconds()
	return r
}

func (s *Status) checkApp(ctx context.Context, id string) AppStatus {
	start := time.Now()
	res, err := s.sidecar.Invoke(ctx, id, http.MethodGet, "readyz")
	st := AppStatus{RTTms: time.Since(start).Milliseconds()}
	switch {
	case err != nil:
		st.Error = err.Error()
	case res.Status == http.StatusOK:
		st.Ready = true
	default:
		st.Error = fmt.Sprintf("readyz answered %d through service invocation", res.Status)
	}
	if err == nil {
		var body struct {
			Checks json.RawMessage `json:"checks"`
		}
		if json.Unmarshal(res.Body, &body) == nil {
			st.Checks = body.Checks
		}
	}
	return st
}
