package adapters

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dapr/durabletask-go/api"
	"github.com/dapr/durabletask-go/workflow"
)

// engineHealth remembers whether the workflow engine has been answering.
type engineHealth struct {
	mu sync.Mutex
	// A start (ScheduleNewOrchestration) that timed out and none that
	// succeeded since: jobs cannot start, whatever lookups answer (a
	// scheduler that does not answer stops starts only).
	startStuckAt time.Time
	lastProbe    time.Time
	lastErr      error
	now          func() time.Time
}

func (h *engineHealth) started(err error, timedOut bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case timedOut:
		h.startStuckAt = h.now()
	case err == nil:
		h.startStuckAt = time.Time{}
	}
}

// startStuckFor is how long a timed-out start keeps the orchestrator not
// ready; after it, readiness lets submissions try again.
const startStuckFor = 2 * time.Minute

// probeEvery bounds how often Ready asks the engine itself.
const probeEvery = 5 * time.Second

// probeInstance is an instance id no job has (job ids are letters, digits,
// '.', '_' and '-').
const probeInstance = "~readiness-probe"

// Ready is the orchestrator's readiness check of its workflow engine. It
// fails while the engine does not answer a lookup of an instance that
// does not exist within a few seconds (no placement, a wedged actor
// runtime), and for a while after a job's start timed out (the
// scheduler does not answer). A sidecar that is up but whose engine is
// stuck then shows as not ready instead of accepting jobs that hang.
func (e *WorkflowEngine) Ready(ctx context.Context) error {
	h := e.health
	h.mu.Lock()
	if at := h.startStuckAt; !at.IsZero() && h.now().Sub(at) < startStuckFor {
		h.mu.Unlock()
		return fmt.Errorf("a job's start got no answer from the workflow engine within %s at %s; "+
			"check the orchestrator sidecar's connection to the scheduler", e.timeout, at.UTC().Format(time.RFC3339))
	}
	if h.now().Sub(h.lastProbe) < probeEvery {
		err := h.lastErr
		h.mu.Unlock()
		return err
	}
	h.mu.Unlock()

	pctx, cancel := context.WithTimeout(ctx, probeEvery)
	defer cancel()
	_, err := e.client.FetchWorkflowMetadata(pctx, probeInstance, workflow.WithFetchPayloads(false))
	switch {
	case err == nil || errors.Is(err, api.ErrInstanceNotFound):
		err = nil
	case pctx.Err() != nil && ctx.Err() == nil:
		err = fmt.Errorf("the workflow engine did not answer a lookup within %s (jobs cannot start or advance; "+
			"check the orchestrator sidecar's connection to placement)", probeEvery)
	default:
		err = fmt.Errorf("the workflow engine failed a lookup: %w", err)
	}
	h.mu.Lock()
	h.lastProbe, h.lastErr = h.now(), err
	h.mu.Unlock()
	return err
}
