// Package adapters reaches what health depends on outside itself.
package adapters

import (
	"context"
	"fmt"
	"net/http"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
)

// JobsRoute is the orchestrator's job list.
const JobsRoute = "/v1/jobs"

// Invoker calls an app through the Dapr sidecar; daprclient.Sidecar fits.
type Invoker interface {
	InvokeJSON(ctx context.Context, appID, verb, method string, in, out any) error
}

// OrchestratorJobs lists the orchestrator's jobs through service invocation.
type OrchestratorJobs struct {
	inv   Invoker
	appID string
}

func NewOrchestratorJobs(inv Invoker, appID string) *OrchestratorJobs {
	return &OrchestratorJobs{inv: inv, appID: appID}
}

// ListJobs answers GET /v1/jobs of the orchestrator: its newest jobs.
func (o *OrchestratorJobs) ListJobs(ctx context.Context) (job.List, error) {
	var l job.List
	err := o.inv.InvokeJSON(ctx, o.appID, http.MethodGet, JobsRoute, nil, &l)
	switch {
	case err == nil:
		return l, nil
	case errkind.Of(err) == errkind.Unauthorized:
		return job.List{}, errkind.Wrap(errkind.Unauthorized, err, fmt.Sprintf(
			"list jobs: %s's access-control policy must allow health to call GET %s", o.appID, JobsRoute))
	default:
		return job.List{}, fmt.Errorf("list jobs of %s: %w", o.appID, err)
	}
}
