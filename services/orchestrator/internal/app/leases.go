package app

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/controlplane"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/logging"
)

// WorkSource is the slice of the control-plane client the poller uses.
type WorkSource interface {
	PollWork(ctx context.Context, agentID string, wait time.Duration) (*controlplane.Lease, error)
	RenewLease(ctx context.Context, leaseID string) (*controlplane.Lease, error)
	ReportStatus(ctx context.Context, leaseID string, r controlplane.StatusReport) error
	ReleaseLease(ctx context.Context, leaseID, reason string) error
}

// LeaseRecord is a lease the orchestrator holds, kept in the state store
// so a restarted orchestrator keeps renewing it instead of losing the job.
type LeaseRecord struct {
	LeaseID   string    `json:"lease_id"`
	CPJobID   string    `json:"cp_job_id"`  // the control plane's job id
	JobID     string    `json:"job_id"`     // the agent's job id (CPJobID, or CPJobID.rN for a rerun)
	ExpiresAt time.Time `json:"expires_at"` // as the control plane last said
	Duration  int       `json:"duration_seconds"`
	Reported  string    `json:"reported,omitempty"` // last state reported
}

// LeaseStore keeps the held leases by control-plane job id.
type LeaseStore interface {
	Load(ctx context.Context) (map[string]LeaseRecord, error)
	Save(ctx context.Context, leases map[string]LeaseRecord) error
}

// LeasedJobs is the slice of Jobs the poller uses.
type LeasedJobs interface {
	SubmitAs(ctx context.Context, id string, spec job.Spec) (started bool, err error)
	Get(ctx context.Context, id string) (job.Status, error)
	Cancel(ctx context.Context, id string) (job.Submitted, error)
}

// PollerOptions configure a Poller; zero values take the defaults noted.
type PollerOptions struct {
	AgentID string
	MaxJobs int           // leased jobs run at once (default 2)
	Wait    time.Duration // long-poll wait (default 30s)
	Check   time.Duration // how often a leased job's status is read (default 1s)
	// RetryWait is the pause after a failed poll (default 5s).
	RetryWait time.Duration
	Logger    *zap.Logger
	// TracerProvider and Jobs put each lease in a span that becomes its
	// job's trace, and each report and renewal in that trace.
	TracerProvider trace.TracerProvider
	Jobs           JobTraces
	Metrics        *Metrics
}

// Poller leases work from the control plane, runs each leased job as an
// ordinary job, renews the lease while it runs and reports every status
// transition. A lost lease cancels the job: the control plane gives it to
// someone else, so it must not also run here.
type Poller struct {
	src    WorkSource
	jobs   LeasedJobs
	store  LeaseStore
	o      PollerOptions
	log    *zap.Logger
	tracer trace.Tracer

	mu     sync.Mutex
	leases map[string]LeaseRecord // by control-plane job id
	swap   map[string]chan LeaseRecord
	slots  chan struct{}
	wg     sync.WaitGroup
}

func NewPoller(src WorkSource, jobs LeasedJobs, store LeaseStore, o PollerOptions) *Poller {
	if o.MaxJobs <= 0 {
		o.MaxJobs = 2
	}
	if o.Wait <= 0 {
		o.Wait = 30 * time.Second
	}
	if o.Check <= 0 {
		o.Check = time.Second
	}
	if o.RetryWait <= 0 {
		o.RetryWait = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.TracerProvider == nil {
		o.TracerProvider = noop.NewTracerProvider()
	}
	return &Poller{tracer: o.TracerProvider.Tracer("github.com/secure-agent/secure-agent/services/orchestrator"), src: src, jobs: jobs, store: store, o: o, log: o.Logger,
		leases: map[string]LeaseRecord{}, swap: map[string]chan LeaseRecord{}, slots: make(chan struct{}, o.MaxJobs)}
}

// Run polls until ctx ends, then waits for the lease keepers to stop.
// Leases stay recorded: the next start resumes renewing them.
func (p *Poller) Run(ctx context.Context) {
	defer p.wg.Wait()
	p.restore(ctx)
	failures := 0
	for {
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		lease, err := p.src.PollWork(ctx, p.o.AgentID, p.o.Wait)
		if err != nil || lease == nil {
			<-p.slots
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				failures++
				if failures == 1 || failures%12 == 0 {
					p.log.Warn("polling the control plane for work failed; trying again", zap.Error(err), zap.Int("failures", failures))
				}
				if !sleep(ctx, p.o.RetryWait) {
					return
				}
			}
			continue
		}
		if failures > 0 {
			p.log.Info("polling the control plane works again", zap.Int("failures", failures))
			failures = 0
		}
		if !p.accept(ctx, *lease) {
			<-p.slots
		}
	}
}

// restore resumes keeping the leases recorded by an earlier run.
func (p *Poller) restore(ctx context.Context) {
	for {
		held, err := p.store.Load(ctx)
		if err == nil {
			for _, rec := range held {
				logging.WithTrace(p.inJobTrace(ctx, rec.JobID), p.log).Info("resuming a lease held before the restart", zap.String("job_id", rec.JobID), zap.String("lease_id", rec.LeaseID))
				p.keep(ctx, rec, false)
			}
			return
		}
		p.log.Warn("reading the held leases failed; trying again", zap.Error(err))
		if !sleep(ctx, p.o.RetryWait) {
			return
		}
	}
}

// accept starts (or adopts) the job of a new lease and reports it
// accepted; false means no keeper took the slot.
func (p *Poller) accept(ctx context.Context, l controlplane.Lease) bool {
	// The lease starts the job's trace, as POST /v1/jobs does for a job
	// submitted here: SubmitAs records this span with the job.
	ctx, span := p.tracer.Start(ctx, "accept lease", trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attribute.String("secure_agent.controlplane.job.id", l.JobID)))
	defer span.End()
	p.o.Metrics.lease(LeaseAcquired)
	log := logging.WithTrace(ctx, p.log).With(zap.String("cp_job_id", l.JobID), zap.String("lease_id", l.LeaseID))
	rec := LeaseRecord{LeaseID: l.LeaseID, CPJobID: l.JobID, ExpiresAt: l.ExpiresAt, Duration: l.DurationSeconds}

	p.mu.Lock()
	if ch, ok := p.swap[l.JobID]; ok {
		// Re-leased while still running here (a renewal was late): the
		// keeper carries on under the new lease.
		p.mu.Unlock()
		select {
		case ch <- rec:
		case <-ctx.Done():
		}
		log.Info("job leased again while it runs here; keeping it under the new lease")
		return false
	}
	p.mu.Unlock()

	spec, err := leasedSpec(l)
	if err != nil {
		log.Warn("leased job has an invalid spec; reporting it failed", zap.Error(err))
		p.report(ctx, &rec, controlplane.StatusReport{State: controlplane.StateFailed, Errors: []string{err.Error()}}, log)
		return false
	}
	id, existing, err := p.placeJob(ctx, l.JobID)
	if err != nil {
		log.Warn("leased job cannot be placed; giving the lease up to expire", zap.Error(err))
		return false
	}
	rec.JobID = id
	span.SetAttributes(attribute.String("secure_agent.job.id", id))
	log = log.With(zap.String("job_id", id))
	if existing.State.Terminal() {
		// Finished here while unleased (the orchestrator was down): report
		// the result instead of running it again.
		log.Info("leased job already finished here; reporting its result", zap.String("state", string(existing.State)))
		p.report(ctx, &rec, finalReport(existing), log)
		return false
	}
	if _, err := p.jobs.SubmitAs(ctx, id, spec); err != nil {
		if errkind.Of(err) == errkind.Invalid {
			log.Warn("leased job was refused; it is reported failed", zap.Error(err))
			p.report(ctx, &rec, controlplane.StatusReport{State: controlplane.StateFailed, Errors: []string{err.Error()}}, log)
			return false
		}
		// Not started (the workflow engine is not ready yet, say): give the
		// job back so it is leased again soon, and pause polling.
		log.Warn("leased job could not be started; the lease is released", zap.Error(err))
		if rerr := p.src.ReleaseLease(ctx, rec.LeaseID, "the agent could not start the job: "+err.Error()); rerr != nil {
			log.Warn("releasing the lease failed; it will expire", zap.Error(rerr))
		} else {
			p.o.Metrics.lease(LeaseReleased)
		}
		sleep(ctx, p.o.RetryWait)
		return false
	}
	if !p.report(ctx, &rec, controlplane.StatusReport{State: controlplane.StateAccepted}, log) && rec.Reported == reportedLost {
		p.lose(ctx, rec, nil, log)
		return false
	}
	// A report that failed otherwise is made good by the next transition.
	log.Info("leased job accepted")
	p.keep(ctx, rec, true)
	return true
}

// placeJob picks the agent job id for a control-plane job: its own id,
// or for a job cancelled here after a lost lease, the next rerun id.
// existing is the status of a job already under the id (zero if none).
func (p *Poller) placeJob(ctx context.Context, cpID string) (string, job.Status, error) {
	for n := 1; n <= 50; n++ {
		id := cpID
		if n > 1 {
			id = cpID + ".r" + strconv.Itoa(n)
		}
		st, err := p.jobs.Get(ctx, id)
		switch {
		case errkind.Of(err) == errkind.NotFound:
			return id, job.Status{}, nil
		case err != nil:
			return "", job.Status{}, err
		case st.State == job.Cancelled:
			continue // stopped after a lost lease: run it afresh
		default:
			return id, st, nil
		}
	}
	return "", job.Status{}, errkind.New(errkind.Conflict, "job "+cpID+" was cancelled here 50 times; refusing to run it again")
}

// leasedSpec decodes a lease's spec. A spec naming no destination sends its
// files back to the control plane; a controlplane destination without a job
// id gets the control plane's.
func leasedSpec(l controlplane.Lease) (job.Spec, error) {
	if len(l.Spec) == 0 {
		return job.Spec{}, errkind.New(errkind.Invalid, "the leased job has no spec")
	}
	var raw struct {
		Destinations []json.RawMessage `json:"destinations"`
	}
	_ = json.Unmarshal(l.Spec, &raw) // ParseSpec reports a malformed spec
	spec, err := job.ParseSpec(l.Spec)
	if err != nil {
		return job.Spec{}, errkind.Wrap(errkind.Invalid, err, "the leased job's spec")
	}
	if len(raw.Destinations) == 0 {
		spec.Destinations = []job.Destination{{Binding: job.DestinationControlPlane, Prefix: job.DefaultPrefix, JobID: l.JobID}}
	}
	for i, d := range spec.Destinations {
		if d.Binding == job.DestinationControlPlane && d.JobID == "" {
			spec.Destinations[i].JobID = l.JobID
		}
	}
	if err := spec.Validate(); err != nil {
		return job.Spec{}, errkind.Wrap(errkind.Invalid, err, "the leased job's spec")
	}
	return spec, nil
}

// keep records the lease and starts its keeper, which frees a poll slot
// when it ends if slotted (restored leases hold none).
func (p *Poller) keep(ctx context.Context, rec LeaseRecord, slotted bool) {
	ch := make(chan LeaseRecord, 1)
	p.mu.Lock()
	p.leases[rec.CPJobID] = rec
	p.swap[rec.CPJobID] = ch
	p.mu.Unlock()
	p.persist(ctx)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if slotted {
			defer func() { <-p.slots }()
		}
		p.keeper(ctx, rec, ch)
	}()
}

func (p *Poller) persist(ctx context.Context) {
	p.mu.Lock()
	snapshot := make(map[string]LeaseRecord, len(p.leases))
	for k, v := range p.leases {
		snapshot[k] = v
	}
	p.mu.Unlock()
	if err := p.store.Save(ctx, snapshot); err != nil && ctx.Err() == nil {
		p.log.Warn("recording the held leases failed; a restart now would lose them until they expire", zap.Error(err))
	}
}

func (p *Poller) update(ctx context.Context, rec LeaseRecord) {
	p.mu.Lock()
	p.leases[rec.CPJobID] = rec
	p.mu.Unlock()
	p.persist(ctx)
}

func (p *Poller) drop(ctx context.Context, rec LeaseRecord) {
	p.mu.Lock()
	delete(p.leases, rec.CPJobID)
	delete(p.swap, rec.CPJobID)
	p.mu.Unlock()
	p.persist(ctx)
}

// keeper renews the lease and reports the job's transitions until the job
// ends (its result reported) or the lease is lost (the job cancelled).
func (p *Poller) keeper(ctx context.Context, rec LeaseRecord, swap <-chan LeaseRecord) {
	log := logging.WithTrace(p.inJobTrace(ctx, rec.JobID), p.log).With(zap.String("job_id", rec.JobID), zap.String("lease_id", rec.LeaseID))
	check := time.NewTicker(p.o.Check)
	defer check.Stop()
	nextRenew := time.Now().Add(renewEvery(rec))
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-swap:
			rec.LeaseID, rec.ExpiresAt, rec.Duration, rec.Reported = n.LeaseID, n.ExpiresAt, n.Duration, ""
			log = logging.WithTrace(p.inJobTrace(ctx, rec.JobID), p.log).With(zap.String("job_id", rec.JobID), zap.String("lease_id", rec.LeaseID))
			p.update(ctx, rec)
			nextRenew = time.Now().Add(renewEvery(rec))
		case <-check.C:
		}
		if time.Now().After(nextRenew) {
			l, err := p.renew(ctx, rec)
			switch {
			case err == nil:
				rec.ExpiresAt = l.ExpiresAt
				p.update(ctx, rec)
				nextRenew = time.Now().Add(renewEvery(rec))
			case lost(err) || (ctx.Err() == nil && time.Now().After(rec.ExpiresAt)):
				p.lose(ctx, rec, err, log)
				return
			case ctx.Err() != nil:
				return
			default:
				log.Warn("renewing the lease failed; trying again before it expires", zap.Error(err), zap.Time("expires_at", rec.ExpiresAt))
				nextRenew = time.Now().Add(min(renewEvery(rec)/4, 5*time.Second))
			}
		}
		st, err := p.jobs.Get(ctx, rec.JobID)
		if err != nil {
			continue
		}
		var r controlplane.StatusReport
		switch {
		case st.State.Terminal() && st.StartedAt != nil && rec.Reported == string(controlplane.StateAccepted):
			// It ran between two checks: say so before its result.
			r = controlplane.StatusReport{State: controlplane.StateRunning, At: *st.StartedAt}
		case st.State.Terminal():
			r = finalReport(st)
		case st.State != job.Pending && rec.Reported != string(controlplane.StateRunning):
			r = controlplane.StatusReport{State: controlplane.StateRunning, Assets: st.Assets}
		default:
			continue
		}
		if !p.report(ctx, &rec, r, log) {
			if rec.Reported == reportedLost {
				p.lose(ctx, rec, nil, log)
				return
			}
			continue // tried again at the next check
		}
		p.update(ctx, rec)
		if r.State != controlplane.StateRunning && st.State.Terminal() {
			log.Info("leased job finished and reported", zap.String("state", string(st.State)))
			p.drop(ctx, rec)
			return
		}
	}
}

// reportedLost marks a record whose report was refused: the lease is lost.
const reportedLost = "lease-lost"

// lose stops the job of a lost lease; its result is never reported.
func (p *Poller) lose(ctx context.Context, rec LeaseRecord, cause error, log *zap.Logger) {
	p.o.Metrics.lease(LeaseLost)
	ctx = p.inJobTrace(ctx, rec.JobID)
	log = logging.WithTrace(ctx, log)
	log.Warn("the lease of a job was lost; the job is cancelled here and left to the control plane", zap.Error(cause))
	if _, err := p.jobs.Cancel(ctx, rec.JobID); err != nil && errkind.Of(err) != errkind.Conflict {
		log.Error("cancelling the job of a lost lease failed", zap.Error(err))
	}
	// Hold the lease's slot until the job has stopped: leased again before
	// that, it would look like a running job to adopt.
	deadline := time.Now().Add(lostJobStopWait)
	for time.Now().Before(deadline) {
		if st, err := p.jobs.Get(ctx, rec.JobID); err == nil && st.State.Terminal() {
			break
		}
		if !sleep(ctx, p.o.Check) {
			return
		}
	}
	p.drop(ctx, rec)
}

// lostJobStopWait bounds how long a lost lease's job is waited for to stop.
const lostJobStopWait = 5 * time.Minute

// report sends one transition (the client retries transient failures);
// false means it was not recorded, and rec.Reported is reportedLost when
// the control plane answered that the lease is lost.
func (p *Poller) report(ctx context.Context, rec *LeaseRecord, r controlplane.StatusReport, log *zap.Logger) bool {
	ctx, span := p.tracer.Start(p.inJobTrace(ctx, rec.JobID), "report "+string(r.State),
		trace.WithAttributes(attribute.String("secure_agent.job.id", rec.JobID), attribute.String("secure_agent.report.state", string(r.State))))
	defer span.End()
	log = logging.WithTrace(ctx, log)
	err := p.src.ReportStatus(ctx, rec.LeaseID, r)
	switch {
	case err == nil:
		rec.Reported = string(r.State)
		return true
	case lost(err):
		rec.Reported = reportedLost
	case ctx.Err() == nil:
		log.Warn("reporting the job's status failed; it is reported again at the next check", zap.String("state", string(r.State)), zap.Error(err))
	}
	return false
}

func lost(err error) bool {
	k := errkind.Of(err)
	return k == errkind.Conflict || k == errkind.NotFound
}

func renewEvery(rec LeaseRecord) time.Duration {
	d := time.Duration(rec.Duration) * time.Second
	if d <= 0 {
		d = time.Until(rec.ExpiresAt)
	}
	return max(d/3, time.Second)
}

func finalReport(st job.Status) controlplane.StatusReport {
	r := controlplane.StatusReport{Assets: st.Assets, Errors: st.Errors}
	if st.FinishedAt != nil {
		r.At = *st.FinishedAt
	}
	if st.Manifest != nil {
		r.ManifestSHA256 = st.Manifest.SHA256
	}
	switch st.State {
	case job.Succeeded:
		r.State = controlplane.StateSucceeded
	case job.Cancelled:
		r.State = controlplane.StateCancelled
	default:
		r.State = controlplane.StateFailed
	}
	if len(st.Rows) > 0 {
		r.Rows = map[string]int64{}
		for k, n := range st.Rows {
			r.Rows[string(k)] = n
		}
	}
	return r
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Events of secure_agent_controlplane_leases_total.
const (
	LeaseAcquired = "acquired"
	LeaseLost     = "lost"
	LeaseReleased = "released"
)

// inJobTrace is ctx inside the trace of job id (the span that accepted its
// lease), when one is recorded; ctx otherwise.
func (p *Poller) inJobTrace(ctx context.Context, jobID string) context.Context {
	if p.o.Jobs == nil || jobID == "" {
		return ctx
	}
	tp, err := p.o.Jobs.TraceParent(ctx, jobID)
	if err != nil {
		return ctx
	}
	if sc := spanContextOf(tp); sc.IsValid() {
		return trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	return ctx
}

// renew renews rec's lease in a span of the job's trace.
func (p *Poller) renew(ctx context.Context, rec LeaseRecord) (*controlplane.Lease, error) {
	ctx, span := p.tracer.Start(p.inJobTrace(ctx, rec.JobID), "renew lease",
		trace.WithAttributes(attribute.String("secure_agent.job.id", rec.JobID)))
	defer span.End()
	l, err := p.src.RenewLease(ctx, rec.LeaseID)
	if err != nil {
		span.SetStatus(codes.Error, "renewal failed")
	}
	return l, err
}
