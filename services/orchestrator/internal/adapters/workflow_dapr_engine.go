package adapters

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dapr/durabletask-go/api"
	"github.com/dapr/durabletask-go/api/protos"
	"github.com/dapr/durabletask-go/workflow"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/services/orchestrator/internal/app"
)

// WorkflowEngine runs job workflows on the Dapr workflow engine of the
// orchestrator's sidecar: it schedules, inspects and signals instances and
// hosts the worker that executes them.
type WorkflowEngine struct {
	client  *workflow.Client
	timeout time.Duration
	health  *engineHealth
	log     *zap.Logger
}

// DefaultEngineCallTimeout bounds each call to the workflow engine: a
// sidecar whose engine is stuck must not hold an API request (or a pub/sub
// delivery) forever.
const DefaultEngineCallTimeout = 15 * time.Second

// NewWorkflowEngine talks to the sidecar over conn (the Dapr client's
// gRPC connection); every call is bounded by timeout (0: the default).
func NewWorkflowEngine(conn grpc.ClientConnInterface, timeout time.Duration, log *zap.Logger) *WorkflowEngine {
	if log == nil {
		log = zap.NewNop()
	}
	if timeout <= 0 {
		timeout = DefaultEngineCallTimeout
	}
	return &WorkflowEngine{
		client:  workflow.NewClientWithLogger(conn, log.Named("durabletask").Sugar()),
		timeout: timeout,
		health:  &engineHealth{now: time.Now},
		log:     log,
	}
}

// bound limits one engine call; timedOut tells whether the engine gave no
// answer in time.
func (e *WorkflowEngine) bound(ctx context.Context, what string, call func(context.Context) error) (timedOut bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	err = call(cctx)
	// The sidecar gets the deadline with the call and may answer
	// DeadlineExceeded itself a moment before ours fires.
	deadline := cctx.Err() != nil || status.Code(err) == codes.DeadlineExceeded
	if err != nil && deadline && ctx.Err() == nil {
		return true, errkind.Wrap(errkind.Transient, err, fmt.Sprintf("%s: the workflow engine did not answer within %s", what, e.timeout))
	}
	return false, err
}

// Start schedules the job's workflow with the job id as instance id.
func (e *WorkflowEngine) Start(ctx context.Context, id string, in app.WorkflowInput) error {
	timedOut, err := e.bound(ctx, "schedule the workflow of job "+id, func(ctx context.Context) error {
		_, err := e.client.ScheduleWorkflow(ctx, app.WorkflowName, workflow.WithInstanceID(id), workflow.WithInput(in))
		return err
	})
	e.health.started(err, timedOut)
	if err != nil {
		return fmt.Errorf("schedule workflow %s for job %s: %w", app.WorkflowName, id, err)
	}
	return nil
}

// Inspect reads the instance; an unknown id is Found false.
func (e *WorkflowEngine) Inspect(ctx context.Context, id string) (app.Run, error) {
	var wm *workflow.WorkflowMetadata
	_, err := e.bound(ctx, "read the workflow of job "+id, func(ctx context.Context) (err error) {
		wm, err = e.client.FetchWorkflowMetadata(ctx, id, workflow.WithFetchPayloads(true))
		return err
	})
	if errors.Is(err, api.ErrInstanceNotFound) {
		return app.Run{}, nil
	}
	if err != nil {
		return app.Run{}, fmt.Errorf("read workflow instance %s: %w", id, err)
	}
	md := (*protos.OrchestrationMetadata)(wm)
	run := app.Run{
		Found:        true,
		State:        runState(md.GetRuntimeStatus()),
		Input:        md.GetInput().GetValue(),
		CustomStatus: md.GetCustomStatus().GetValue(),
		Output:       md.GetOutput().GetValue(),
	}
	if ts := md.GetLastUpdatedAt(); ts != nil {
		run.UpdatedAt = ts.AsTime()
	}
	if fd := md.GetFailureDetails(); fd != nil {
		run.Failure = fd.GetErrorMessage()
	}
	return run, nil
}

func runState(s api.OrchestrationStatus) app.RunState {
	switch s {
	case api.RUNTIME_STATUS_PENDING:
		return app.RunPending
	case api.RUNTIME_STATUS_RUNNING, api.RUNTIME_STATUS_CONTINUED_AS_NEW:
		return app.RunRunning
	case api.RUNTIME_STATUS_SUSPENDED:
		return app.RunSuspended
	case api.RUNTIME_STATUS_COMPLETED:
		return app.RunCompleted
	case api.RUNTIME_STATUS_FAILED:
		return app.RunFailed
	case api.RUNTIME_STATUS_TERMINATED, api.RUNTIME_STATUS_CANCELED:
		return app.RunTerminated
	default:
		return app.RunUnknown
	}
}

// Notify raises ev as the instance's "job-event".
func (e *WorkflowEngine) Notify(ctx context.Context, id string, ev app.Event) error {
	_, err := e.bound(ctx, "raise an event on job "+id, func(ctx context.Context) error {
		return e.client.RaiseEvent(ctx, id, app.EventName, workflow.WithEventPayload(ev))
	})
	if err != nil {
		return fmt.Errorf("raise %s event on workflow instance %s: %w", ev.Type, id, err)
	}
	return nil
}

// RunWorker executes the registered workflows and activities until ctx
// ends. Until the sidecar accepts the work-item stream (its workflow
// engine needs placement and the scheduler) it tries again with backoff;
// a broken stream is reconnected by the engine's client itself.
func (e *WorkflowEngine) RunWorker(ctx context.Context, r *workflow.Registry) error {
	wait := 500 * time.Millisecond
	for {
		err := e.client.StartWorker(ctx, r)
		if err == nil {
			e.log.Info("workflow worker started")
			<-ctx.Done()
			e.log.Info("workflow worker stopped")
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		e.log.Warn("workflow worker could not connect to the sidecar's workflow engine; retrying",
			zap.Duration("retry_in", wait), zap.Error(err))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}
