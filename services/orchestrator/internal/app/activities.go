package app

import (
	"context"
	"fmt"

	"github.com/dapr/durabletask-go/workflow"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/logging"
)

// Activity names, as recorded in workflow histories: never rename one
// while jobs may be running.
const (
	ActPreflight       = "Preflight"
	ActAcquireSlot     = "AcquireSlot"
	ActReleaseSlot     = "ReleaseSlot"
	ActPublishExtract  = "PublishExtract"
	ActFinalize        = "Finalize"
	ActCancelPublisher = "CancelPublisher"
	ActRaiseAlarm      = "RaiseAlarm"
)

// Preflighter checks a source and plans its partitions (the extractor).
type Preflighter interface {
	Preflight(ctx context.Context, spec job.Spec) (job.Preflight, error)
}

// RequestPublisher hands an extract request to the extractors.
type RequestPublisher interface {
	PublishExtract(ctx context.Context, req job.ExtractRequest) error
}

// Finalizer ends a job at the publisher: write its manifest, or cancel it
// (stop uploading, write no manifest, delete its staging).
type Finalizer interface {
	Finalize(ctx context.Context, req job.FinalizeRequest) (job.Finalized, error)
	Cancel(ctx context.Context, jobID string) error
}

// SlotStore keeps the slots of each connection with optimistic
// concurrency: Save with the etag Load returned ("" when there was no
// record: create only) answers errkind.Conflict when someone else wrote
// in between.
type SlotStore interface {
	Load(ctx context.Context, connection string) (Slots, string, error)
	Save(ctx context.Context, connection string, s Slots, etag string) error
}

// RunNotifier reads and signals job workflows.
type RunNotifier interface {
	Inspect(ctx context.Context, id string) (Run, error)
	Notify(ctx context.Context, id string, ev Event) error
}

// Activities are the workflow's side effects. Each is safe to run more
// than once (the engine may repeat one after a crash).
type Activities struct {
	preflight Preflighter
	requests  RequestPublisher
	finalizer Finalizer
	slots     SlotStore
	runs      RunNotifier
	limit     int
	metrics   *Metrics
	log       *zap.Logger
}

// NewActivities builds the activities; concurrency is SOURCE_CONCURRENCY.
func NewActivities(p Preflighter, r RequestPublisher, f Finalizer, s SlotStore, runs RunNotifier,
	concurrency int, metrics *Metrics, log *zap.Logger) *Activities {
	if log == nil {
		log = zap.NewNop()
	}
	if concurrency < 1 {
		concurrency = 1
	}
	return &Activities{preflight: p, requests: r, finalizer: f, slots: s, runs: runs,
		limit: concurrency, metrics: metrics, log: log}
}

// PreflightInput is the Preflight activity's input.
type PreflightInput struct {
	JobID string   `json:"job_id"`
	Spec  job.Spec `json:"spec"`
}

// PreflightResult carries the extractor's answer, or a failure that a
// retry would not fix (the workflow fails the job with it).
type PreflightResult struct {
	Preflight job.Preflight `json:"preflight"`
	Error     string        `json:"error,omitempty"`
}

// permanent reports whether repeating the call cannot help.
func permanent(err error) bool {
	switch errkind.Of(err) {
	case errkind.Invalid, errkind.NotFound, errkind.Conflict, errkind.Unauthorized:
		return true
	default:
		return false
	}
}

func (a *Activities) Preflight(ctx workflow.ActivityContext) (any, error) {
	var in PreflightInput
	if err := ctx.GetInput(&in); err != nil {
		return PreflightResult{Error: "read preflight input: " + err.Error()}, nil
	}
	pf, err := a.preflight.Preflight(audit.WithJob(ctx.Context(), in.JobID), in.Spec)
	if err != nil {
		if permanent(err) {
			return PreflightResult{Error: err.Error()}, nil
		}
		logging.WithTrace(ctx.Context(), a.log).Warn("preflight failed; the workflow retries it", zap.String("job_id", in.JobID), zap.Error(err))
		return nil, err
	}
	return PreflightResult{Preflight: pf}, nil
}

func (a *Activities) PublishExtract(ctx workflow.ActivityContext) (any, error) {
	var req job.ExtractRequest
	if err := ctx.GetInput(&req); err != nil {
		return nil, fmt.Errorf("read extract request: %w", err)
	}
	if err := a.requests.PublishExtract(ctx.Context(), req); err != nil {
		logging.WithTrace(ctx.Context(), a.log).Warn("publishing an extract request failed; the workflow retries it", zap.String("job_id", req.JobID),
			zap.String("partition", req.Partition.ID), zap.Error(err))
		return nil, err
	}
	return nil, nil
}

// FinalizeResult carries the publisher's answer, or a failure that a retry
// would not fix.
type FinalizeResult struct {
	Finalized job.Finalized `json:"finalized"`
	Error     string        `json:"error,omitempty"`
}

func (a *Activities) Finalize(ctx workflow.ActivityContext) (any, error) {
	var req job.FinalizeRequest
	if err := ctx.GetInput(&req); err != nil {
		return FinalizeResult{Error: "read finalize request: " + err.Error()}, nil
	}
	f, err := a.finalizer.Finalize(ctx.Context(), req)
	if err != nil {
		if permanent(err) {
			return FinalizeResult{Error: err.Error()}, nil
		}
		logging.WithTrace(ctx.Context(), a.log).Warn("finalize failed; the workflow retries it", zap.String("job_id", req.JobID), zap.Error(err))
		return nil, err
	}
	return FinalizeResult{Finalized: f}, nil
}

// CancelInput names the job the publisher must cancel.
type CancelInput struct {
	JobID string `json:"job_id"`
}

func (a *Activities) CancelPublisher(ctx workflow.ActivityContext) (any, error) {
	var in CancelInput
	if err := ctx.GetInput(&in); err != nil {
		return nil, fmt.Errorf("read cancel input: %w", err)
	}
	err := a.finalizer.Cancel(ctx.Context(), in.JobID)
	if errkind.Of(err) == errkind.NotFound {
		return nil, nil // the publisher never saw the job: nothing to stop
	}
	return nil, err
}

// AlarmInput is a JobDeadline workflow's input.
type AlarmInput struct {
	JobID string `json:"job_id"`
	Alarm Alarm  `json:"alarm"`
}

func (a *Activities) RaiseAlarm(ctx workflow.ActivityContext) (any, error) {
	var in AlarmInput
	if err := ctx.GetInput(&in); err != nil {
		return nil, fmt.Errorf("read alarm input: %w", err)
	}
	run, err := a.runs.Inspect(ctx.Context(), in.JobID)
	if err != nil {
		return nil, err
	}
	if !run.Found || run.Finished() {
		return nil, nil // the job ended; nobody waits for this alarm
	}
	ev, err := DeadlineEvent(in.Alarm)
	if err != nil {
		return nil, err
	}
	if err := a.runs.Notify(ctx.Context(), in.JobID, ev); err != nil {
		return nil, err
	}
	a.metrics.eventRaised(EventDeadline)
	return nil, nil
}
