package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/logging"
)

// JobRecord is what the orchestrator keeps of a submitted job besides its
// workflow: enough to list it.
type JobRecord struct {
	ID          string    `json:"id"`
	Spec        job.Spec  `json:"spec"`
	SubmittedAt time.Time `json:"submitted_at"`
	// TraceParent is the span that submitted the job: its workflow's
	// activities join that trace.
	TraceParent string `json:"traceparent,omitempty"`
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

// ManifestReader fetches a finished job's manifest, or a dry run's plan,
// from the publisher.
type ManifestReader interface {
	Manifest(ctx context.Context, jobID string) (json.RawMessage, error)
	Plan(ctx context.Context, jobID string) (json.RawMessage, error)
}

// Submission is what an idempotency key created: the job and a digest of
// the spec it was sent with.
type Submission struct {
	JobID      string    `json:"job_id"`
	SpecSHA256 string    `json:"spec_sha256"`
	At         time.Time `json:"at"`
}

// SubmissionStore remembers which job each idempotency key created. Claim
// records sub under key if the key is new (claimed true); otherwise it
// answers the submission the key already holds.
type SubmissionStore interface {
	Claim(ctx context.Context, key string, sub Submission) (held Submission, claimed bool, err error)
}

// DestinationChecker tells whether the publisher can write to a spec's
// destinations; an unknown binding is errkind.Invalid.
type DestinationChecker interface {
	CheckDestinations(ctx context.Context, dests []job.Destination) error
}

// Jobs are the operations of the orchestrator's job API.
type Jobs struct {
	store       JobStore
	index       JobIndex
	runner      JobRunner
	manifests   ManifestReader
	submissions SubmissionStore
	dests       DestinationChecker
	listLimit   int
	startGrace  time.Duration
	now         func() time.Time
	newID       func(time.Time) string
	metrics     *Metrics
	log         *zap.Logger
	audit       audit.Recorder
	ctx         context.Context // the process's life: start watchers end with it
	wakeAfter   time.Duration
	wakeMu      sync.Mutex
	woken       map[string]time.Time // job id: when its workflow was last woken
}

// JobsOptions configures Jobs; Now and NewID default to the clock and
// NewJobID. Without Submissions idempotency keys are refused; without
// Destinations they are not checked at submission.
type JobsOptions struct {
	ListLimit    int
	Submissions  SubmissionStore
	Destinations DestinationChecker
	// StartGrace is how long a recorded job whose workflow is not found yet
	// shows as pending (its start may still be in flight) before it shows
	// as failed to start (default 2 minutes).
	StartGrace time.Duration
	Now        func() time.Time
	NewID      func(time.Time) string
	Metrics    *Metrics
	Logger     *zap.Logger
	// Audit records each submission, lease and cancel before it takes
	// effect (nil: audit.Off).
	Audit audit.Recorder
	// Context is the process's life; the watchers of new workflows end
	// with it (default: never).
	Context context.Context
	// WakeAfter is how long a job's workflow may stay pending before it is
	// woken (wake.go; default DefaultWakeAfter).
	WakeAfter time.Duration
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
	if o.StartGrace <= 0 {
		o.StartGrace = 2 * time.Minute
	}
	if o.Audit == nil {
		o.Audit = audit.Off{}
	}
	if o.Context == nil {
		o.Context = context.Background()
	}
	if o.WakeAfter <= 0 {
		o.WakeAfter = DefaultWakeAfter
	}
	return &Jobs{store: store, index: index, runner: runner, manifests: manifests, submissions: o.Submissions,
		dests: o.Destinations, listLimit: o.ListLimit, startGrace: o.StartGrace, now: o.Now, newID: o.NewID,
		metrics: o.Metrics, log: o.Logger, audit: o.Audit, ctx: o.Context, wakeAfter: o.WakeAfter, woken: map[string]time.Time{}}
}

// Submit validates a spec (YAML or JSON), checks its destinations with
// the publisher, records the job, lists it and starts its workflow.
//
// key (may be empty) is the client's idempotency key: a submission repeated
// with the same key and spec answers the job the first one created (and
// starts it if its start was cut short) instead of creating another, so a
// client may retry a submit whose answer it did not get. The same key
// with another spec is a conflict.
//
// The job is listed before its workflow is started: a start that fails or
// times out leaves a listed job (pending while the start may still be in
// flight, then failed), never a running job nobody can see.
func (j *Jobs) Submit(ctx context.Context, body []byte, key string) (job.Submitted, error) {
	if len(body) > job.MaxSpecBytes {
		return job.Submitted{}, errkind.New(errkind.Invalid, fmt.Sprintf("job spec is %d bytes; the limit is %d", len(body), job.MaxSpecBytes))
	}
	spec, err := job.ParseSpec(body)
	if err != nil {
		return job.Submitted{}, errkind.Wrap(errkind.Invalid, err, "")
	}
	if spec.Schedule != nil {
		return job.Submitted{}, errkind.New(errkind.Invalid, "this spec has a schedule ("+spec.Schedule.String()+
			"): register it with `agentctl schedules add SPEC` (POST /v1/schedules), or remove schedule to run it once now")
	}
	if err := j.checkDestinations(ctx, spec); err != nil {
		return job.Submitted{}, err
	}
	now := j.now().UTC()
	id := j.newID(now)
	if key != "" {
		held, claimed, err := j.claim(ctx, key, spec, id, now)
		if err != nil {
			return job.Submitted{}, err
		}
		if !claimed {
			return j.resume(ctx, held, spec)
		}
	}
	return j.start(ctx, id, spec, now, false, audit.ActionJobSubmitted, "client")
}

var keyPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$`)

// claim records that key creates job id, or answers what it created.
func (j *Jobs) claim(ctx context.Context, key string, spec job.Spec, id string, now time.Time) (Submission, bool, error) {
	if !keyPattern.MatchString(key) {
		return Submission{}, false, errkind.New(errkind.Invalid, "Idempotency-Key: use 8 to 128 letters, digits, '.', '_', ':' or '-' (agentctl sends a random one)")
	}
	if j.submissions == nil {
		return Submission{}, false, errkind.New(errkind.Invalid, "this orchestrator does not keep idempotency keys; submit without one")
	}
	held, claimed, err := j.submissions.Claim(ctx, key, Submission{JobID: id, SpecSHA256: specDigest(spec), At: now})
	if err != nil {
		return Submission{}, false, errkind.Wrap(errkind.Transient, err, "record the idempotency key; submit again with the same key")
	}
	if !claimed && held.SpecSHA256 != specDigest(spec) {
		return Submission{}, false, errkind.New(errkind.Conflict, fmt.Sprintf(
			"the idempotency key was already used for job %s with a different spec; use a new key for a new job", held.JobID))
	}
	return held, claimed, nil
}

// resume answers a repeated submission: the job its key created, started
// now if that submission stopped before starting it.
func (j *Jobs) resume(ctx context.Context, held Submission, spec job.Spec) (job.Submitted, error) {
	run, err := j.runner.Inspect(ctx, held.JobID)
	if err != nil {
		return job.Submitted{}, errkind.Wrap(errkind.Transient, err, "read the workflow of job "+held.JobID+"; submit again with the same key")
	}
	if run.Found {
		logging.WithTrace(ctx, j.log).Info("repeated submission answered with the job its idempotency key created", zap.String("job_id", held.JobID))
		j.wakeIfStuck(ctx, held.JobID, run)
		return job.Submitted{ID: held.JobID, State: run.JobStatus().State}, nil
	}
	return j.start(ctx, held.JobID, spec, held.At, true, audit.ActionJobSubmitted, "client")
}

// specDigest identifies a spec for idempotency keys.
func specDigest(spec job.Spec) string {
	b, _ := json.Marshal(spec)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (j *Jobs) checkDestinations(ctx context.Context, spec job.Spec) error {
	if j.dests == nil {
		return nil
	}
	return j.dests.CheckDestinations(ctx, spec.Destinations)
}

// SubmitAs starts a validated spec under a chosen id (a job leased from the
// control plane). A workflow that already exists under id is left alone:
// started is false and nothing runs twice.
func (j *Jobs) SubmitAs(ctx context.Context, id string, spec job.Spec) (started bool, err error) {
	if spec.Schedule != nil {
		return false, errkind.New(errkind.Invalid, "the job carries a schedule; the control plane schedules its own jobs, so a leased spec must not have one")
	}
	return j.submitAs(ctx, id, spec, audit.ActionJobLeased, "controlplane")
}

// SubmitScheduled starts a validated spec under the id of one fire of
// schedule; like SubmitAs, a fire delivered twice starts one job.
func (j *Jobs) SubmitScheduled(ctx context.Context, id string, spec job.Spec, schedule string) (started bool, err error) {
	return j.submitAs(ctx, id, spec, audit.ActionJobSubmitted, "schedule:"+schedule)
}

func (j *Jobs) submitAs(ctx context.Context, id string, spec job.Spec, action, actor string) (started bool, err error) {
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
	if err := j.checkDestinations(ctx, spec); err != nil {
		return false, err
	}
	// A record without a workflow is a start that crashed half-way: start it.
	if _, err := j.start(ctx, id, spec, j.now().UTC(), true, action, actor); err != nil {
		return false, err
	}
	return true, nil
}

func (j *Jobs) start(ctx context.Context, id string, spec job.Spec, now time.Time, recordMayExist bool, action, actor string) (job.Submitted, error) {
	log := logging.WithTrace(ctx, j.log).With(zap.String("job_id", id))
	tp := TraceParent(ctx)
	err := j.audit.Record(audit.WithJob(ctx, id), audit.Entry{Action: action, Actor: actor, App: "orchestrator", Target: id,
		Outcome: audit.OutcomeOK, Details: map[string]string{"connection": spec.Connection, "source_kind": spec.Source.Kind,
			"spec_sha256": specDigest(spec), "destinations": strconv.Itoa(len(spec.Destinations))}})
	if err != nil {
		return job.Submitted{}, errkind.Wrap(errkind.Transient, err, "job "+id+" was not started: its submission could not be recorded in the audit log")
	}
	err = j.store.Save(ctx, JobRecord{ID: id, Spec: spec, SubmittedAt: now, TraceParent: tp})
	if err != nil && !(recordMayExist && errkind.Of(err) == errkind.Conflict) {
		return job.Submitted{}, errkind.Wrap(errkind.Transient, err, "record job "+id+"; submit again")
	}
	if err := j.index.Add(ctx, id); err != nil {
		return job.Submitted{}, errkind.Wrap(errkind.Transient, err, "list job "+id+"; submit again")
	}
	if err := j.runner.Start(ctx, id, WorkflowInput{JobID: id, Spec: spec, SubmittedAt: now, TraceParent: tp}); err != nil && !j.started(ctx, id) {
		log.Warn("the job is recorded but its workflow did not start", zap.Error(err))
		return job.Submitted{}, errkind.Wrap(errkind.Transient, err,
			"start the workflow of job "+id+" (is the orchestrator's sidecar connected to placement and scheduler?); "+
				"the job is listed; submitting again with the same idempotency key (agentctl does) starts it once")
	}
	j.metrics.jobStarted(spec.Source.Kind)
	j.watchStart(id)
	log.Info("job submitted", zap.String("connection", spec.Connection), zap.String("source_kind", spec.Source.Kind))
	return job.Submitted{ID: id, State: job.Pending}, nil
}

// started tells whether a start that answered an error created the
// workflow anyway (a timeout after the engine took it, or a concurrent
// submission with the same idempotency key).
func (j *Jobs) started(ctx context.Context, id string) bool {
	run, err := j.runner.Inspect(ctx, id)
	return err == nil && run.Found
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
		j.wakeIfStuck(ctx, id, run)
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
	st := job.Status{ID: id, Name: rec.Spec.Name, Connection: rec.Spec.Connection, SourceKind: rec.Spec.Source.Kind,
		SubmittedAt: rec.SubmittedAt, State: job.Failed,
		Errors: []string{"the job's workflow does not exist: it failed to start or was purged; submit the job again"}}
	if j.now().Sub(rec.SubmittedAt) < j.startGrace {
		// Its start may still be on its way through the workflow engine.
		st.State, st.Errors = job.Pending, []string{"the job is recorded and its workflow is starting"}
	}
	return st, nil
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
	if err := j.audit.Record(audit.WithJob(ctx, id), audit.Entry{Action: audit.ActionJobCancelled, Actor: "client",
		App: "orchestrator", Target: id, Outcome: audit.OutcomeOK, Details: map[string]string{"state": string(st.State)}}); err != nil {
		return job.Submitted{}, errkind.Wrap(errkind.Transient, err, "job "+id+" was not cancelled: the request could not be recorded in the audit log")
	}
	if err := j.runner.Notify(ctx, id, CancelEvent()); err != nil {
		return job.Submitted{}, errkind.Wrap(errkind.Transient, err, "send the cancel request to job "+id+"; try again")
	}
	j.metrics.eventRaised(EventCancel)
	logging.WithTrace(ctx, j.log).Info("job cancel requested", zap.String("job_id", id))
	return job.Submitted{ID: id, State: st.State}, nil
}

// Manifest returns the manifest the publisher wrote for the job: an
// unknown job is NotFound, a job that has not succeeded a Conflict naming
// its state.
func (j *Jobs) Manifest(ctx context.Context, id string) (json.RawMessage, error) {
	st, err := j.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	switch {
	case st.State == job.Succeeded && st.DryRun:
		return nil, errkind.New(errkind.Conflict, fmt.Sprintf("job %s is a dry run: it has a plan (GET /v1/jobs/%s/plan), no manifest", id, id))
	case st.State == job.Succeeded:
		return j.manifests.Manifest(ctx, id)
	case st.State.Terminal():
		return nil, errkind.New(errkind.Conflict, fmt.Sprintf("job %s %s: it has no manifest", id, st.State))
	default:
		return nil, errkind.New(errkind.Conflict, fmt.Sprintf("job %s is %s: its manifest is written when it succeeds", id, st.State))
	}
}

// Plan returns a finished dry run's plan: an unknown job is NotFound, any
// other job a Conflict that says why it has none.
func (j *Jobs) Plan(ctx context.Context, id string) (json.RawMessage, error) {
	st, err := j.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	switch {
	case st.State == job.Succeeded && st.DryRun:
		return j.manifests.Plan(ctx, id)
	case st.State == job.Succeeded:
		return nil, errkind.New(errkind.Conflict, fmt.Sprintf("job %s is not a dry run: it has a manifest, no plan (submit the spec with dry_run: true, or agentctl plan)", id))
	case st.State.Terminal():
		return nil, errkind.New(errkind.Conflict, fmt.Sprintf("job %s %s: it has no plan", id, st.State))
	default:
		return nil, errkind.New(errkind.Conflict, fmt.Sprintf("job %s is %s: its plan is ready when it succeeds", id, st.State))
	}
}
