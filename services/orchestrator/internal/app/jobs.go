package app

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
)

// JobRecord is what the orchestrator keeps of a submitted job besides its
// workflow: enough to list it.
type JobRecord struct {
	ID          string    `json:"id"`
	Spec        job.Spec  `json:"spec"`
	SubmittedAt time.Time `json:"submitted_at"`
}

// JobStore keeps job records. Get answers errkind.NotFound for an unknown id.
type JobStore interface {
	Save(ctx context.Context, rec JobRecord) error
	Get(ctx context.Context, id string) (JobRecord, error)
}

// JobIndex lists job ids in submission order.
type JobIndex interface {
	Add(ctx context.Context, id string) error
	Latest(ctx context.Context, limit int) ([]string, error) // newest first
}

// JobRunner runs each job as a workflow instance whose id is the job id.
type JobRunner interface {
	Start(ctx context.Context, id string, in WorkflowInput) error
	Inspect(ctx context.Context, id string) (Run, error) // Found false for an unknown id
	Notify(ctx context.Context, id string, ev Event) error
}

// ManifestReader fetches a finished job's manifest from the publisher.
type ManifestReader interface {
	Manifest(ctx context.Context, jobID string) (json.RawMessage, error)
}

// Jobs are the operations of the orchestrator's job API.
type Jobs struct {
	store     JobStore
	index     JobIndex
	runner    JobRunner
	manifests ManifestReader
	listLimit int
	now       func() time.Time
	newID     func(time.Time) string
	metrics   *Metrics
	log       *zap.Logger
}

// JobsOptions configures Jobs; Now and NewID default to the clock and
// NewJobID.
type JobsOptions struct {
	ListLimit int
	Now       func() time.Time
	NewID     func(time.Time) string
	Metrics   *Metrics
	Logger    *zap.Logger
}

func NewJobs(store JobStore, index JobIndex, runner JobRunner, manifests ManifestReader, o JobsOptions) *Jobs {
	if o.ListLimit <= 0 {
		o.ListLimit = 100
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NewID == nil {
		o.NewID = NewJobID
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return &Jobs{store: store, index: index, runner: runner, manifests: manifests,
		listLimit: o.ListLimit, now: o.Now, newID: o.NewID, metrics: o.Metrics, log: o.Logger}
}

// Submit validates a spec (YAML or JSON), records the job and starts its
// workflow. The record is saved first and the job indexed last, so a
// crash in between leaves either nothing visible or a running job that
// GET finds (never a listed job that does not run).
func (j *Jobs) Submit(ctx context.Context, body []byte) (job.Submitted, error) {
	spec, err := job.ParseSpec(body)
	if err != nil {
		return job.Submitted{}, errkind.Wrap(errkind.Invalid, err, "")
	}
	now := j.now().UTC()
	return j.start(ctx, j.newID(now), spec, now, false)
}

// SubmitAs starts a validated spec under a chosen id (a job leased from the
// control plane). A workflow that already exists under id is left alone:
// started is false and nothing runs twice.
func (j *Jobs) SubmitAs(ctx context.Context, id string, spec job.Spec) (started bool, err error) {
	if err := checkID(id); err != nil {
		return false, err
	}
	run, err := j.runner.Inspect(ctx, id)
	if err != nil {
		return false, errkind.Wrap(errkind.Transient, err, "read the workflow of job "+id)
	}
	if run.Found {
		return false, nil
	}
	// A record without a workflow is a start that crashed half-way: start it.
	if _, err := j.start(ctx, id, spec, j.now().UTC(), true); err != nil {
		return false, err
	}
	return true, nil
}

func (j *Jobs) start(ctx context.Context, id string, spec job.Spec, now time.Time, recordMayExist bool) (job.Submitted, error) {
	log := j.log.With(zap.String("job_id", id))
	err := j.store.Save(ctx, JobRecord{ID: id, Spec: spec, SubmittedAt: now})
	if err != nil && !(recordMayExist && errkind.Of(err) == errkind.Conflict) {
		return job.Submitted{}, fmt.Errorf("record job %s: %w", id, err)
	}
	if err := j.runner.Start(ctx, id, WorkflowInput{JobID: id, Spec: spec, SubmittedAt: now}); err != nil {
		return job.Submitted{}, errkind.Wrap(errkind.Transient, err,
			"start the workflow of job "+id+" (is the orchestrator's sidecar connected to placement and scheduler?); submit the job again")
	}
	if err := j.index.Add(ctx, id); err != nil {
		// The job runs and GET finds it; only listings miss it.
		log.Error("job started but could not be added to the job index; it will not appear in listings", zap.Error(err))
	}
	log.Info("job submitted", zap.String("connection", spec.Connection), zap.String("source_kind", spec.Source.Kind))
	return job.Submitted{ID: id, State: job.Pending}, nil
}

var jobIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func checkID(id string) error {
	if !jobIDPattern.MatchString(id) {
		return errkind.New(errkind.Invalid, fmt.Sprintf("%q is not a job id (job ids look like j-20250101-120000-000-a1b2c3)", id))
	}
	return nil
}

// Get answers the job's status: its workflow's, or, for a job whose
// workflow is gone (it never started, or was purged), its record's.
func (j *Jobs) Get(ctx context.Context, id string) (job.Status, error) {
	if err := checkID(id); err != nil {
		return job.Status{}, err
	}
	run, err := j.runner.Inspect(ctx, id)
	if err != nil {
		return job.Status{}, errkind.Wrap(errkind.Transient, err, "read the workflow of job "+id)
	}
	if run.Found {
		return run.JobStatus(), nil
	}
	return j.recordStatus(ctx, id)
}

// recordStatus describes a job that has a record but no workflow.
func (j *Jobs) recordStatus(ctx context.Context, id string) (job.Status, error) {
	rec, err := j.store.Get(ctx, id)
	if errkind.Of(err) == errkind.NotFound {
		return job.Status{}, errkind.New(errkind.NotFound, "job "+id+" is unknown; list jobs with GET /v1/jobs")
	}
	if err != nil {
		return job.Status{}, errkind.Wrap(errkind.Transient, err, "read the record of job "+id)
	}
	return job.Status{ID: id, Name: rec.Spec.Name, Connection: rec.Spec.Connection, SourceKind: rec.Spec.Source.Kind,
		SubmittedAt: rec.SubmittedAt, State: job.Failed,
		Errors: []string{"the job's workflow does not exist: it failed to start or was purged; submit the job again"}}, nil
}

func (j *Jobs) inspect(ctx context.Context, id string) (Run, error) {
	if err := checkID(id); err != nil {
		return Run{}, err
	}
	run, err := j.runner.Inspect(ctx, id)
	if err != nil {
		return Run{}, errkind.Wrap(errkind.Transient, err, "read the workflow of job "+id)
	}
	if !run.Found {
		return Run{}, errkind.New(errkind.NotFound, "job "+id+" is unknown or its workflow is gone; list jobs with GET /v1/jobs")
	}
	return run, nil
}

// List answers the newest jobs first, at most limit (0: the configured
// default; never more than it).
func (j *Jobs) List(ctx context.Context, limit int) (job.List, error) {
	if limit <= 0 || limit > j.listLimit {
		limit = j.listLimit
	}
	ids, err := j.index.Latest(ctx, limit)
	if err != nil {
		return job.List{}, errkind.Wrap(errkind.Transient, err, "read the job index")
	}
	out := job.List{Jobs: make([]job.Status, len(ids))}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out.Jobs[i] = j.listed(ctx, id)
		}()
	}
	wg.Wait()
	return out, nil
}

// listed is one listing entry; a job whose workflow cannot be read still
// shows, with the reason.
func (j *Jobs) listed(ctx context.Context, id string) job.Status {
	st, err := j.Get(ctx, id)
	if err == nil {
		return st
	}
	return job.Status{ID: id, State: job.Pending, Errors: []string{"status unavailable: " + err.Error()}}
}

// Cancel asks a running job to stop. A job that already ended is a
// conflict naming its state.
func (j *Jobs) Cancel(ctx context.Context, id string) (job.Submitted, error) {
	run, err := j.inspect(ctx, id)
	if err != nil {
		return job.Submitted{}, err
	}
	st := run.JobStatus()
	if run.Finished() || st.State.Terminal() {
		return job.Submitted{}, errkind.New(errkind.Conflict, fmt.Sprintf("job %s already ended (%s); there is nothing to cancel", id, st.State))
	}
	if err := j.runner.Notify(ctx, id, CancelEvent()); err != nil {
		return job.Submitted{}, errkind.Wrap(errkind.Transient, err, "send the cancel request to job "+id+"; try again")
	}
	j.metrics.eventRaised(EventCancel)
	j.log.Info("job cancel requested", zap.String("job_id", id))
	return job.Submitted{ID: id, State: st.State}, nil
}

// Manifest returns the manifest the publisher wrote for the job.
func (j *Jobs) Manifest(ctx context.Context, id string) (json.RawMessage, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	return j.manifests.Manifest(ctx, id)
}
