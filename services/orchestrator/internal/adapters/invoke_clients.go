package adapters

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
)

// Default app ids of the services the orchestrator invokes.
const (
	ExtractorAppID = "extractor"
	PublisherAppID = "publisher"
)

// Invoker calls another app through the sidecar (daprclient.Sidecar).
type Invoker interface {
	InvokeJSON(ctx context.Context, appID, verb, method string, in, out any) error
}

// Bounds of each call; the workflow retries transient failures.
const (
	preflightTimeout = 2 * time.Minute
	finalizeTimeout  = 5 * time.Minute
	cancelTimeout    = time.Minute
	manifestTimeout  = 30 * time.Second
)

// ExtractorClient is the extractor's preflight over service invocation.
type ExtractorClient struct {
	inv   Invoker
	appID string
}

func NewExtractorClient(inv Invoker, appID string) *ExtractorClient {
	return &ExtractorClient{inv: inv, appID: appID}
}

// Preflight posts the spec to POST /v1/preflight.
func (c *ExtractorClient) Preflight(ctx context.Context, spec job.Spec) (job.Preflight, error) {
	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	var pf job.Preflight
	method := "/v1/preflight"
	if id := audit.JobOf(ctx); id != "" {
		// The extractor records its secret reads under the job (audit log).
		method += "?job_id=" + url.QueryEscape(id)
	}
	err := c.inv.InvokeJSON(ctx, c.appID, http.MethodPost, method, spec, &pf)
	return pf, err
}

// PublisherClient is the publisher's job API over service invocation.
type PublisherClient struct {
	inv   Invoker
	appID string

	mu     sync.Mutex // guards dest, destAt
	dest   Destinations
	destAt time.Time
}

func NewPublisherClient(inv Invoker, appID string) *PublisherClient {
	return &PublisherClient{inv: inv, appID: appID}
}

func jobPath(id, op string) string { return "/v1/jobs/" + url.PathEscape(id) + "/" + op }

// Finalize asks for the manifest: POST /v1/jobs/{id}/finalize.
func (c *PublisherClient) Finalize(ctx context.Context, req job.FinalizeRequest) (job.Finalized, error) {
	ctx, cancel := context.WithTimeout(ctx, finalizeTimeout)
	defer cancel()
	var f job.Finalized
	err := c.inv.InvokeJSON(ctx, c.appID, http.MethodPost, jobPath(req.JobID, "finalize"), req, &f)
	return f, err
}

// Cancel stops the job at the publisher: POST /v1/jobs/{id}/cancel.
func (c *PublisherClient) Cancel(ctx context.Context, jobID string) error {
	ctx, cancel := context.WithTimeout(ctx, cancelTimeout)
	defer cancel()
	return c.inv.InvokeJSON(ctx, c.appID, http.MethodPost, jobPath(jobID, "cancel"), nil, nil)
}

// Manifest reads GET /v1/jobs/{id}/manifest; a 404 stays NotFound.
func (c *PublisherClient) Manifest(ctx context.Context, jobID string) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, manifestTimeout)
	defer cancel()
	var m json.RawMessage
	if err := c.inv.InvokeJSON(ctx, c.appID, http.MethodGet, jobPath(jobID, "manifest"), nil, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// Plan reads GET /v1/jobs/{id}/plan; a 404 stays NotFound.
func (c *PublisherClient) Plan(ctx context.Context, jobID string) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, manifestTimeout)
	defer cancel()
	var p json.RawMessage
	if err := c.inv.InvokeJSON(ctx, c.appID, http.MethodGet, jobPath(jobID, "plan"), nil, &p); err != nil {
		return nil, err
	}
	return p, nil
}

// destinationsTTL is how long the publisher's list of destinations is
// reused: bindings change only when the publisher restarts.
const destinationsTTL = 30 * time.Second

// Destinations is the publisher's answer to GET /v1/destinations.
type Destinations struct {
	Bindings []string `json:"bindings"`
	Staging  string   `json:"staging"`
}

// CheckDestinations refuses a spec whose destinations the publisher cannot
// write to: a binding its sidecar has not loaded, the staging binding (its
// files are deleted when the job ends), or the control plane without a link.
func (c *PublisherClient) CheckDestinations(ctx context.Context, dests []job.Destination) error {
	d, err := c.destinations(ctx)
	if err != nil {
		return errkind.Wrap(errkind.Transient, err, "check the job's destinations with the publisher; try again once it runs")
	}
	var bad []string
	for _, dest := range dests {
		switch {
		case dest.Binding == d.Staging:
			bad = append(bad, fmt.Sprintf("%q is the staging binding, whose files are deleted when the job ends; name an output binding for the results", dest.Binding))
		case !slices.Contains(d.Bindings, dest.Binding):
			bad = append(bad, fmt.Sprintf("%q is not a destination of the publisher (it can write to: %s)", dest.Binding, strings.Join(d.Bindings, ", ")))
		}
	}
	if len(bad) > 0 {
		return errkind.New(errkind.Invalid, "invalid job spec:\n  - destinations: "+strings.Join(bad, "\n  - destinations: "))
	}
	return nil
}

func (c *PublisherClient) destinations(ctx context.Context) (Destinations, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.destAt) < destinationsTTL {
		return c.dest, nil
	}
	ctx, cancel := context.WithTimeout(ctx, manifestTimeout)
	defer cancel()
	var d Destinations
	if err := c.inv.InvokeJSON(ctx, c.appID, http.MethodGet, "/v1/destinations", nil, &d); err != nil {
		return d, err
	}
	c.dest, c.destAt = d, time.Now()
	return d, nil
}
