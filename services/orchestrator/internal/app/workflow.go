package app

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dapr/durabletask-go/task"
	"github.com/dapr/durabletask-go/workflow"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/logging"
)

// Workflow names, as recorded by the engine: never rename one while jobs
// may be running.
const (
	WorkflowName         = "JobWorkflow"
	DeadlineWorkflowName = "JobDeadline"
)

// WorkflowOptions tune the workflow; zero values take the defaults.
type WorkflowOptions struct {
	// SlotRetry is how long a job waits before asking for a slot again (5 s).
	SlotRetry time.Duration
	// ActivityRetry is how the workflow retries a failed activity
	// (transient failures only: activities report permanent ones in their
	// result). MaxAttempts, InitialRetryInterval, BackoffCoefficient and
	// MaxRetryInterval are used.
	ActivityRetry workflow.RetryPolicy
	Metrics       *Metrics
	Logger        *zap.Logger
	// Audit records the job's start and end in the audit log (nil: not
	// recorded). Workflow code cannot fail closed on it: the job already
	// runs; a failure is logged.
	Audit audit.Recorder
}

// DefaultActivityRetry rides out a dependency that is down for about two
// minutes (a sidecar or service restarting): eight attempts, backing off
// from 2 s to 30 s.
func DefaultActivityRetry() workflow.RetryPolicy {
	return workflow.RetryPolicy{MaxAttempts: 8, InitialRetryInterval: 2 * time.Second, BackoffCoefficient: 2,
		MaxRetryInterval: 30 * time.Second}
}

// alarmRetry keeps trying to deliver a deadline for a long time: a lost
// deadline would leave a silent partition waiting forever.
func alarmRetry() workflow.RetryPolicy {
	return workflow.RetryPolicy{MaxAttempts: 20, InitialRetryInterval: 2 * time.Second, BackoffCoefficient: 2,
		MaxRetryInterval: 2 * time.Minute}
}

// JobWorkflow runs one job (ADR 0007, "Flow"). Its code is deterministic:
// time comes from the workflow context, decisions from Machine.
//
// Deadlines are not awaited with WaitForExternalEvent's timeout: in
// durabletask-go v0.10.2 a timeout timer that fires after its event
// arrived detaches the *next* waiter of the same event name, which then
// misses events until its own timeout (dapr/durabletask-go#114). Instead
// the workflow waits for events without a timeout and each deadline is a
// JobDeadline child workflow that sleeps on a durable timer and raises a
// "deadline" event, which Machine treats like any other event.
type JobWorkflow struct {
	opts WorkflowOptions
}

func NewJobWorkflow(o WorkflowOptions) *JobWorkflow {
	if o.SlotRetry <= 0 {
		o.SlotRetry = 5 * time.Second
	}
	if o.ActivityRetry.MaxAttempts == 0 {
		o.ActivityRetry = DefaultActivityRetry()
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return &JobWorkflow{opts: o}
}

// Tracing puts a job's activities in the job's trace (see tracing.go).
// Zero: no spans.
type Tracing struct {
	Provider trace.TracerProvider
	Jobs     JobTraces
	Logger   *zap.Logger
}

// Register adds the workflows and activities to r, each activity in a span
// of its job's trace.
func Register(r *workflow.Registry, wf *JobWorkflow, a *Activities, tr Tracing) error {
	if tr.Logger == nil {
		tr.Logger = zap.NewNop()
	}
	t := newActivityTracer(tr.Provider, tr.Jobs, tr.Logger)
	return errors.Join(
		r.AddWorkflowN(WorkflowName, wf.Run),
		r.AddWorkflowN(DeadlineWorkflowName, wf.Deadline),
		r.AddActivityN(ActPreflight, t.wrap(ActPreflight, a.Preflight)),
		r.AddActivityN(ActAcquireSlot, t.wrap(ActAcquireSlot, a.AcquireSlot)),
		r.AddActivityN(ActReleaseSlot, t.wrap(ActReleaseSlot, a.ReleaseSlot)),
		r.AddActivityN(ActPublishExtract, t.wrap(ActPublishExtract, a.PublishExtract)),
		r.AddActivityN(ActFinalize, t.wrap(ActFinalize, a.Finalize)),
		r.AddActivityN(ActCancelPublisher, t.wrap(ActCancelPublisher, a.CancelPublisher)),
		r.AddActivityN(ActRaiseAlarm, t.wrap(ActRaiseAlarm, a.RaiseAlarm)),
	)
}

// Run is the JobWorkflow entry point; its output is the final job.Status.
func (w *JobWorkflow) Run(ctx *workflow.WorkflowContext) (out any, err error) {
	defer recoverPanic(&err)
	var in WorkflowInput
	if err := ctx.GetInput(&in); err != nil {
		return nil, fmt.Errorf("read the job's workflow input: %w", err)
	}
	r := &jobRun{w: w, ctx: ctx, in: in, m: NewMachine(in, ctx.CurrentTimeUTC()),
		log: w.opts.Logger.With(zap.String("job_id", in.JobID))}
	// Workflow code runs in no span of its own (a replay would repeat
	// it); its lines name the job's trace and the span that submitted it.
	if sc := spanContextOf(in.TraceParent); sc.IsValid() {
		r.log = logging.WithTrace(trace.ContextWithRemoteSpanContext(context.Background(), sc), r.log)
	}
	// The custom status is set once per execution, whether it ends by
	// blocking (the engine unwinds the stack with a panic) or by
	// returning: the engine keeps only the last value anyway, and encoding
	// it at every step of a replay would cost time for nothing.
	defer func() { ctx.SetCustomStatus(r.m.StatusJSON()) }()
	r.auditEvent(audit.ActionJobStarted, audit.OutcomeOK, map[string]string{
		"connection": in.Spec.Connection, "source_kind": in.Spec.Source.Kind})
	return r.execute(), nil
}

// auditEvent records a step of the job in the audit log, on the first
// execution only (never on replay), in the background: workflow code must
// not block on I/O (a stalled turn is retried by the engine, which then
// runs the orchestration twice).
func (r *jobRun) auditEvent(action, outcome string, details map[string]string) {
	if r.w.opts.Audit == nil || r.ctx.IsReplaying() {
		return
	}
	rec, in, log := r.w.opts.Audit, r.in, r.log
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if sc := spanContextOf(in.TraceParent); sc.IsValid() {
			ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
		}
		err := rec.Record(audit.WithJob(ctx, in.JobID), audit.Entry{Action: action, Actor: "orchestrator",
			App: "orchestrator", Target: in.JobID, Outcome: outcome, Details: details})
		if err != nil {
			log.Error("the audit log did not record a step of the job", zap.String("action", action), zap.Error(err))
		}
	}()
}

// recoverPanic turns a panic of workflow code into a failed workflow
// (the worker would otherwise crash the process), but lets the engine's
// own "task blocked" signal through.
func recoverPanic(err *error) {
	if v := recover(); v != nil {
		if v == task.ErrTaskBlocked {
			panic(v)
		}
		*err = fmt.Errorf("the job workflow panicked: %v; this is a bug in the orchestrator, report it", v)
	}
}

// Deadline is the JobDeadline child workflow: sleep until the alarm's time
// on a durable timer, then raise it into the job.
func (w *JobWorkflow) Deadline(ctx *workflow.WorkflowContext) (out any, err error) {
	defer recoverPanic(&err)
	var in AlarmInput
	if err := ctx.GetInput(&in); err != nil {
		return nil, fmt.Errorf("read the alarm: %w", err)
	}
	if d := in.Alarm.At.Sub(ctx.CurrentTimeUTC()); d > 0 {
		if err := ctx.CreateTimer(d).Await(nil); err != nil {
			return nil, err
		}
	}
	p := alarmRetry()
	return nil, ctx.CallActivity(ActRaiseAlarm, workflow.WithActivityInput(in), workflow.WithActivityRetryPolicy(&p)).Await(nil)
}

// jobRun is one execution (or replay) of JobWorkflow.
type jobRun struct {
	w         *JobWorkflow
	ctx       *workflow.WorkflowContext
	in        WorkflowInput
	m         *Machine
	log       *zap.Logger
	slotAsked bool
	alarmSeq  int
}

func (r *jobRun) now() time.Time { return r.ctx.CurrentTimeUTC() }

// metrics are the orchestrator's metrics when this step is new, nil while
// the workflow replays steps it has recorded already.
func (r *jobRun) metrics() *Metrics {
	if r.ctx.IsReplaying() {
		return nil
	}
	return r.w.opts.Metrics
}

// phase records how long a phase that began at start took.
func (r *jobRun) phase(name string, start time.Time) {
	r.metrics().phase(name, r.now().Sub(start))
}

// info logs once, not on every replay.
func (r *jobRun) info(msg string, fields ...zap.Field) {
	if !r.ctx.IsReplaying() {
		r.log.Info(msg, fields...)
	}
}

// call runs an activity, retrying failures with the retry policy. The
// retries are the workflow's own (not the engine's) so that a cancel
// received meanwhile stops them: the engine's retries would hold the
// workflow until the last attempt.
func (r *jobRun) call(name string, in, out any) error {
	return r.retry(r.ctx.CallActivity(name, workflow.WithActivityInput(in)), name, in, out, true)
}

// cleanup runs a cleanup activity with retries that a cancel does not stop.
func (r *jobRun) cleanup(name string, in any) error {
	return r.retry(r.ctx.CallActivity(name, workflow.WithActivityInput(in)), name, in, nil, false)
}

// retry awaits first, the first attempt of activity name, and repeats the
// activity after a durable backoff while it fails.
func (r *jobRun) retry(first workflow.Task, name string, in, out any, cancellable bool) error {
	pol := r.w.opts.ActivityRetry
	delay := max(pol.InitialRetryInterval, 100*time.Millisecond)
	t := first
	for attempt := 1; ; attempt++ {
		err := t.Await(out)
		if err == nil || attempt >= pol.MaxAttempts {
			return err
		}
		r.info("activity failed; retrying", zap.String("activity", name), zap.Int("attempt", attempt),
			zap.Duration("retry_in", delay), zap.String("error", activityError(err)))
		if cancellable {
			if r.drain(); r.m.Ending() {
				return fmt.Errorf("%s: not retried, the job is ending: %w", name, err)
			}
		}
		if terr := r.ctx.CreateTimer(delay).Await(nil); terr != nil {
			return err
		}
		if cancellable {
			if r.drain(); r.m.Ending() {
				return fmt.Errorf("%s: not retried, the job is ending: %w", name, err)
			}
		}
		delay = min(time.Duration(float64(delay)*max(pol.BackoffCoefficient, 1)), max(pol.MaxRetryInterval, delay))
		t = r.ctx.CallActivity(name, workflow.WithActivityInput(in))
	}
}

func (r *jobRun) execute() job.Status {
	if r.preflight() && r.acquireSlot() {
		r.extract()
		if r.m.AllSucceeded() {
			r.finalize()
		}
	}
	return r.finish()
}

func (r *jobRun) preflight() bool {
	r.info("preflight", zap.String("connection", r.in.Spec.Connection))
	var res PreflightResult
	err := r.call(ActPreflight, PreflightInput{JobID: r.in.JobID, Spec: r.in.Spec}, &res)
	r.phase(MetricPhasePreflight, r.m.StartedAt())
	if err != nil {
		r.m.Fail("preflight: " + activityError(err))
		return false
	}
	if res.Error != "" {
		r.m.Fail("preflight: " + res.Error)
		return false
	}
	if !r.m.Planned(res.Preflight) {
		return false
	}
	r.drain()
	return !r.m.Ending()
}

// acquireSlot waits for a slot of the job's connection, polling on a
// durable timer while the connection is busy.
func (r *jobRun) acquireSlot() bool {
	r.m.SetPhase(PhaseQueued)
	start := r.now()
	shown := false
	for {
		r.slotAsked = true
		var res SlotResult
		if err := r.call(ActAcquireSlot, SlotInput{JobID: r.in.JobID, Connection: r.in.Spec.Connection}, &res); err != nil {
			r.m.Fail("acquire a slot of connection " + r.in.Spec.Connection + ": " + activityError(err))
			return false
		}
		if res.Acquired {
			r.phase(MetricPhaseQueued, start)
			return true
		}
		if !shown {
			r.info("waiting for a slot of the connection", zap.String("connection", r.in.Spec.Connection))
			shown = true
		}
		if err := r.ctx.CreateTimer(r.w.opts.SlotRetry).Await(nil); err != nil {
			r.m.Fail("wait for a slot: " + err.Error())
			return false
		}
		r.drain()
		if r.m.Ending() {
			return false
		}
	}
}

func (r *jobRun) extract() {
	r.m.SetPhase(PhaseExtract)
	r.info("extracting", zap.Int("partitions", len(r.m.parts)))
	start := r.now()
	for !r.m.Done() {
		r.request(r.m.Launch(r.now()))
		r.armAlarms()
		if r.m.Done() {
			break
		}
		r.await()
		r.drain()
	}
	r.metrics().inFlightOf(r.in.JobID, 0)
	if r.m.AllSucceeded() {
		r.phase(MetricPhaseExtract, start)
	}
}

// request publishes the extract requests of launches, all at once.
func (r *jobRun) request(launches []Launch) {
	reqs := make([]job.ExtractRequest, len(launches))
	tasks := make([]workflow.Task, len(launches))
	for i, l := range launches {
		reqs[i] = job.ExtractRequest{JobID: r.in.JobID, Partition: l.Partition, Attempt: l.Attempt,
			Spec: r.in.Spec, ExtractedAt: r.m.StartedAt()}
		tasks[i] = r.ctx.CallActivity(ActPublishExtract, workflow.WithActivityInput(reqs[i]))
	}
	for i, l := range launches {
		if err := r.retry(tasks[i], ActPublishExtract, reqs[i], nil, true); err != nil {
			r.m.Fail(fmt.Sprintf("partition %s (database %s): publish the extract request: %s",
				l.Partition.ID, l.Partition.Database, activityError(err)))
			continue
		}
		r.info("extract requested", zap.String("partition", l.Partition.ID), zap.Int("attempt", l.Attempt))
		r.metrics().partitionsRequested(1)
	}
	r.metrics().inFlightOf(r.in.JobID, r.m.InFlight())
}

// await handles the next event, waiting as long as it takes: deadlines
// arrive as events too.
func (r *jobRun) await() {
	var ev Event
	if err := r.ctx.WaitForExternalEvent(EventName, -1).Await(&ev); err != nil {
		r.info("ignoring an undecodable job event", zap.Error(err))
		return
	}
	r.handle(ev)
}

// drain handles every event already received without waiting (a zero
// timeout creates no timer).
func (r *jobRun) drain() {
	for {
		var ev Event
		err := r.ctx.WaitForExternalEvent(EventName, 0).Await(&ev)
		if errors.Is(err, task.ErrTaskCanceled) {
			return
		}
		if err != nil {
			r.info("ignoring an undecodable job event", zap.Error(err))
			continue
		}
		r.handle(ev)
	}
}

func (r *jobRun) handle(ev Event) {
	effect := r.m.Handle(ev, r.now())
	if effect == Ignored {
		return
	}
	if effect == Retried {
		reason := RetryFailed
		if ev.Type == EventDeadline {
			reason = RetryDeadline
		}
		r.metrics().partitionRetried(reason)
	}
	r.metrics().inFlightOf(r.in.JobID, r.m.InFlight())
	r.info("job event", zap.String("type", string(ev.Type)), zap.String("effect", effect.String()))
}

// armAlarms starts a JobDeadline child per new deadline. They are not
// awaited: each raises its event into this workflow when due.
func (r *jobRun) armAlarms() {
	for _, a := range r.m.TakeAlarms() {
		r.alarmSeq++
		r.ctx.CallChildWorkflow(DeadlineWorkflowName,
			workflow.WithChildWorkflowInput(AlarmInput{JobID: r.in.JobID, Alarm: a}),
			workflow.WithChildWorkflowInstanceID(fmt.Sprintf("%s-alarm-%d", r.in.JobID, r.alarmSeq)))
	}
}

func (r *jobRun) finalize() {
	r.m.SetPhase(PhaseFinalize)
	var res FinalizeResult
	start := r.now()
	err := r.call(ActFinalize, r.m.FinalizeRequest(), &res)
	r.phase(MetricPhaseFinalize, start)
	if err != nil {
		r.m.Fail("finalize: " + activityError(err))
		return
	}
	if res.Error != "" {
		r.m.Fail("finalize: " + res.Error)
		return
	}
	// The manifest is written: from here on a cancel changes nothing.
	r.m.Finalized(res.Finalized)
}

// finish releases the slot on every path and, unless the job succeeded,
// tells the publisher to cancel it.
func (r *jobRun) finish() job.Status {
	if r.m.Outcome() != job.Succeeded {
		r.m.SetPhase(PhaseCleanup)
	}
	if r.slotAsked {
		if err := r.cleanup(ActReleaseSlot, SlotInput{JobID: r.in.JobID, Connection: r.in.Spec.Connection}); err != nil {
			r.m.Note("release the slot of connection " + r.in.Spec.Connection + ": " + activityError(err))
		}
	}
	if o := r.m.Outcome(); o == job.Failed || o == job.Cancelled || o == "" {
		if err := r.cleanup(ActCancelPublisher, CancelInput{JobID: r.in.JobID}); err != nil {
			r.m.Note("tell the publisher to cancel the job: " + activityError(err))
		}
	}
	r.m.Finish(r.now())
	st := r.m.Status()
	r.auditEvent(audit.ActionJobFinished, string(st.State), map[string]string{
		"assets": strconv.FormatInt(st.Assets, 10), "errors": strconv.Itoa(len(st.Errors))})
	if !r.ctx.IsReplaying() {
		r.w.opts.Metrics.jobFinished(st, r.now().Sub(r.m.StartedAt()))
		r.log.Info("job finished", zap.String("state", string(st.State)), zap.Int64("assets", st.Assets),
			zap.Strings("errors", st.Errors))
	}
	return st
}

// activityError is the activity's own message, without the engine's prefix.
func activityError(err error) string {
	return strings.TrimPrefix(err.Error(), "task failed with an error: ")
}
