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

	"github.com/secure-agent/secure-agent/libs/bootstrap"
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

// SelfReporter reports on health's own sidecar and components, the same
// report every app answers on GET /v1/sidecar.
type SelfReporter interface {
	Report(ctx context.Context) bootstrap.SidecarReport
}

// BrokerCheck answers whether a message makes the round trip through the
// broker to every app and back.
type BrokerCheck interface {
	Check(ctx context.Context) ProbeReport
}

// DeadLetterCounter counts the dead letters waiting for an operator.
type DeadLetterCounter interface {
	Pending(ctx context.Context) (int, error)
}

// Status reports on every watched app, its sidecar and components, health's
// own sidecar, the broker and the dead letters.
type Status struct {
	apps        []string
	sidecar     Sidecar
	self        SelfReporter
	broker      BrokerCheck
	deadLetters DeadLetterCounter
	audit       AuditReporter
	now         func() time.Time
}

// WithDeadLetters makes the report count the dead letters kept: any makes
// the agent degraded until they are replayed or discarded.
func (s *Status) WithDeadLetters(c DeadLetterCounter) *Status {
	s.deadLetters = c
	return s
}

// AuditReporter reports the audit log's state.
type AuditReporter interface {
	Status() AuditStatus
}

// WithAudit makes the report include the audit log: degraded while it
// cannot record, sign or get a cosignature.
func (s *Status) WithAudit(a AuditReporter) *Status {
	s.audit = a
	return s
}

// NewStatus watches apps through sidecar. self and broker may be nil: that
// part is then left out of the report.
func NewStatus(apps []string, sidecar Sidecar, self SelfReporter, broker BrokerCheck) *Status {
	return &Status{apps: apps, sidecar: sidecar, self: self, broker: broker, now: time.Now}
}

// Overall is the verdict of a report.
type Overall string

const (
	// OK: every app ready, every sidecar healthy, every component check
	// passed and the broker round trip worked.
	OK Overall = "ok"
	// Degraded: every app is ready, but something they need is failing or
	// could not be checked (a component, a sidecar report, the broker).
	Degraded Overall = "degraded"
	// Down: health's own sidecar or an app is not ready.
	Down Overall = "down"
)

// AppStatus is one app as seen through service invocation.
type AppStatus struct {
	Ready  bool            `json:"ready"`
	Error  string          `json:"error,omitempty"`
	Checks json.RawMessage `json:"checks,omitempty"`
	RTTms  int64           `json:"rtt_ms"`
	// Sidecar is the app's GET /v1/sidecar report; SidecarError says why
	// it is missing.
	Sidecar      *bootstrap.SidecarReport `json:"sidecar,omitempty"`
	SidecarError string                   `json:"sidecar_error,omitempty"`
}

// Report is the answer of GET /v1/status.
type Report struct {
	Status Overall `json:"status"`
	// Healthy is false when Status is down (kept from the first version
	// of this API: health's sidecar up and every app ready).
	Healthy      bool                         `json:"healthy"`
	Problems     []string                     `json:"problems"`
	Sidecar      SidecarStatus                `json:"sidecar"`
	Self         *bootstrap.SidecarReport     `json:"self,omitempty"`
	Apps         map[string]AppStatus         `json:"apps"`
	Broker       *BrokerStatus                `json:"broker,omitempty"`
	DeadLetters  *DeadLetterStatus            `json:"dead_letters,omitempty"`
	Audit        *AuditStatus                 `json:"audit,omitempty"`
	ObjectStores map[string]ObjectStoreStatus `json:"object_stores"`
	CheckedAt    time.Time                    `json:"checked_at"`
	DurationMs   int64                        `json:"duration_ms"`
}

// SidecarStatus is health's own sidecar and the components it loaded.
type SidecarStatus struct {
	Healthy        bool     `json:"healthy"`
	Error          string   `json:"error,omitempty"`
	RuntimeVersion string   `json:"runtime_version,omitempty"`
	Components     []string `json:"components,omitempty"`
}

// DeadLetterStatus counts the dead letters waiting for an operator.
type DeadLetterStatus struct {
	Pending int    `json:"pending"`
	Error   string `json:"error,omitempty"`
}

// BrokerStatus is the broker round trip used by the report and how old
// it is (a recent probe's result is reused).
type BrokerStatus struct {
	ProbeReport
	AgeMs int64 `json:"age_ms"`
}

// Check asks every app's /readyz and /v1/sidecar, health's own sidecar and
// the broker, all in parallel, each within the context's bound.
func (s *Status) Check(ctx context.Context) Report {
	start := s.now()
	r := Report{Apps: make(map[string]AppStatus, len(s.apps)), CheckedAt: start.UTC()}
	var mu sync.Mutex
	var wg sync.WaitGroup
	goDo := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	goDo(func() {
		st := s.checkOwnSidecar(ctx)
		mu.Lock()
		r.Sidecar = st
		mu.Unlock()
	})
	if s.self != nil {
		goDo(func() {
			rep := s.self.Report(ctx)
			mu.Lock()
			r.Self = &rep
			mu.Unlock()
		})
	}
	if s.broker != nil {
		goDo(func() {
			rep := s.broker.Check(ctx)
			age := s.now().Sub(rep.CheckedAt).Milliseconds()
			mu.Lock()
			r.Broker = &BrokerStatus{ProbeReport: rep, AgeMs: max(age, 0)}
			mu.Unlock()
		})
	}
	if s.deadLetters != nil {
		goDo(func() {
			var st DeadLetterStatus
			n, err := s.deadLetters.Pending(ctx)
			st.Pending = n
			if err != nil {
				st.Error = err.Error()
			}
			mu.Lock()
			r.DeadLetters = &st
			mu.Unlock()
		})
	}
	if s.audit != nil {
		st := s.audit.Status()
		r.Audit = &st
	}
	for _, id := range s.apps {
		goDo(func() {
			st := s.checkApp(ctx, id)
			mu.Lock()
			r.Apps[id] = st
			mu.Unlock()
		})
	}
	wg.Wait()
	r.ObjectStores = objectStores(r)
	r.Status, r.Problems = verdict(r)
	r.Healthy = r.Status != Down
	r.DurationMs = s.now().Sub(start).Milliseconds()
	return r
}

func (s *Status) checkOwnSidecar(ctx context.Context) SidecarStatus {
	var st SidecarStatus
	md, err := s.sidecar.Metadata(ctx)
	if err != nil {
		st.Error = err.Error()
		return st
	}
	st.Healthy = true
	st.RuntimeVersion = md.RuntimeVersion
	for _, c := range md.Components {
		st.Components = append(st.Components, c.Name+" ("+c.Type+")")
	}
	return st
}

// checkApp asks the app's readiness and its sidecar report at once.
func (s *Status) checkApp(ctx context.Context, id string) AppStatus {
	var st AppStatus
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		st.Sidecar, st.SidecarError = s.appSidecarReport(ctx, id)
	}()
	start := s.now()
	res, err := s.sidecar.Invoke(ctx, id, http.MethodGet, "readyz")
	st.RTTms = s.now().Sub(start).Milliseconds()
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
	wg.Wait()
	return st
}
