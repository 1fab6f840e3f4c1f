package adapters

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

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
	err := c.inv.InvokeJSON(ctx, c.appID, http.MethodPost, "/v1/preflight", spec, &pf)
	return pf, err
}

// PublisherClient is the publisher's job API over service invocation.
type PublisherClient struct {
	inv   Invoker
	appID string
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
