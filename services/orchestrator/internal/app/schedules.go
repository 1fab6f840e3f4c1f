package app

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/logging"
)

// A schedule (ADR 0015) is a chain of one-shot jobs on Dapr's scheduler:
// each fire submits its run and arms the next fire, computed here in the
// schedule's time zone (the scheduler's cron has no time zone, dapr#10274).
// The scheduler keeps the armed fire through restarts and delivers it to
// one orchestrator replica; the fire's job id is derived from the schedule
// and fire time, so a fire delivered twice starts one job.

// FireFailed is the outcome of a fire whose job could not be submitted
// (the scheduler delivers it again).
const FireFailed = "failed"

// ScheduleRecord is one schedule as the orchestrator keeps it.
type ScheduleRecord struct {
	Spec       job.Spec          `json:"spec"` // with Schedule set
	Generation int64             `json:"generation"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
	Next       time.Time         `json:"next"`
	Armed      string            `json:"armed"` // the scheduler job that fires Next
	Last       *job.ScheduleFire `json:"last,omitempty"`
	Started    int64             `json:"started"`
	Skipped    int64             `json:"skipped"`
}

// ScheduleStore keeps every schedule under one key, by name: Save fails
// with errkind.Conflict when another writer saved since Load.
type ScheduleStore interface {
	Load(ctx context.Context) (map[string]ScheduleRecord, string, error)
	Save(ctx context.Context, all map[string]ScheduleRecord, etag string) error
}

// Trigger is the data each scheduler job carries back to its fire.
type Trigger struct {
	Schedule   string    `json:"schedule"`
	Generation int64     `json:"generation"`
	At         time.Time `json:"at"`
}

// Scheduler is Dapr's Jobs API: Arm creates (or replaces) the one-shot job
// name due at at; Disarm removes it (gone already is fine); Armed tells
// whether it is still waiting.
type Scheduler interface {
	Arm(ctx context.Context, name string, at time.Time, t Trigger) error
	Disarm(ctx context.Context, name string) error
	Armed(ctx context.Context, name string) (bool, error)
}

// SlotReader reads a connection's slots (the jobs running against it).
type SlotReader interface {
	Load(ctx context.Context, connection string) (Slots, string, error)
}

// Schedules are the operations of the orchestrator's schedule API and the
// fires the scheduler delivers.
type Schedules struct {
	store     ScheduleStore
	scheduler Scheduler
	jobs      *Jobs
	runner    JobRunner
	slots     SlotReader
	now       func() time.Time
	metrics   *Metrics
	log       *zap.Logger
	audit     audit.Recorder
}

// SchedulesOptions configures Schedules.
type SchedulesOptions struct {
	Now     func() time.Time
	Metrics *Metrics
	Logger  *zap.Logger
	Audit   audit.Recorder
}

func NewSchedules(store ScheduleStore, scheduler Scheduler, jobs *Jobs, runner JobRunner, slots SlotReader, o SchedulesOptions) *Schedules {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Audit == nil {
		o.Audit = audit.Off{}
	}
	return &Schedules{store: store, scheduler: scheduler, jobs: jobs, runner: runner, slots: slots,
		now: o.Now, metrics: o.Metrics, log: o.Logger, audit: o.Audit}
}

// TriggerPrefix starts the name of every scheduler job of a schedule.
const TriggerPrefix = "schedule-"

// triggerName names the scheduler job of one fire: unique per schedule,
// generation and fire time, so arming it again replaces nothing else.
func triggerName(name string, generation int64, at time.Time) string {
	return TriggerPrefix + name + "-g" + strconv.FormatInt(generation, 10) + "-" + strconv.FormatInt(at.Unix(), 10)
}

// maxScheduleAttempts bounds the retries of a lost update race.
const maxScheduleAttempts = 20

// update applies fn to the stored schedules and saves them, retrying a
// lost race; fn returns false to save nothing.
func (s *Schedules) update(ctx context.Context, fn func(all map[string]ScheduleRecord) (bool, error)) error {
	for range maxScheduleAttempts {
		all, etag, err := s.store.Load(ctx)
		if err != nil {
			return errkind.Wrap(errkind.Transient, err, "read the schedules")
		}
		if all == nil {
			all = map[string]ScheduleRecord{}
		}
		save, err := fn(all)
		if err != nil || !save {
			return err
		}
		err = s.store.Save(ctx, all, etag)
		if errkind.Of(err) == errkind.Conflict {
			continue
		}
		if err != nil {
			return errkind.Wrap(errkind.Transient, err, "save the schedules")
		}
		s.metrics.schedulesRegistered(len(all))
		return nil
	}
	return errkind.New(errkind.Transient, "the schedules changed too often to update; try again")
}

// Put registers a scheduled spec (YAML or JSON) under its name, replacing
// a schedule of that name; created tells which. Its first fire is armed
// before the schedule is saved, so a saved schedule always has one.
func (s *Schedules) Put(ctx context.Context, body []byte) (st job.ScheduleStatus, created bool, err error) {
	if len(body) > job.MaxSpecBytes {
		return st, false, errkind.New(errkind.Invalid, fmt.Sprintf("job spec is %d bytes; the limit is %d", len(body), job.MaxSpecBytes))
	}
	spec, err := job.ParseSpec(body)
	if err != nil {
		return st, false, errkind.Wrap(errkind.Invalid, err, "")
	}
	if spec.Schedule == nil {
		return st, false, errkind.New(errkind.Invalid, "this spec has no schedule: add one (schedule: {cron: \"0 2 * * *\", time_zone: Europe/Berlin} or schedule: {every: 6h}), "+
			"or run it once with `agentctl run SPEC` (POST /v1/jobs)")
	}
	if err := s.jobs.checkDestinations(ctx, spec); err != nil {
		return st, false, err
	}
	now := s.now().UTC()
	next, err := spec.Schedule.Next(time.Time{}, now)
	if err != nil {
		return st, false, errkind.Wrap(errkind.Invalid, err, "")
	}
	if err := s.audit.Record(ctx, audit.Entry{Action: audit.ActionScheduleSet, Actor: "client", App: "orchestrator", Target: spec.Name,
		Outcome: audit.OutcomeOK, Details: map[string]string{"connection": spec.Connection, "schedule": spec.Schedule.String(),
			"spec_sha256": specDigest(spec)}}); err != nil {
		return st, false, errkind.Wrap(errkind.Transient, err, "schedule "+spec.Name+" was not saved: it could not be recorded in the audit log")
	}
	var (
		rec      ScheduleRecord
		replaced string
		armed    []string
	)
	err = s.update(ctx, func(all map[string]ScheduleRecord) (bool, error) {
		old, exists := all[spec.Name]
		created = !exists
		rec = ScheduleRecord{Spec: spec, Generation: old.Generation + 1, CreatedAt: now, UpdatedAt: now, Next: next,
			Last: old.Last, Started: old.Started, Skipped: old.Skipped}
		if exists {
			rec.CreatedAt = old.CreatedAt
		}
		rec.Armed = triggerName(spec.Name, rec.Generation, next)
		if err := s.scheduler.Arm(ctx, rec.Armed, next, Trigger{Schedule: spec.Name, Generation: rec.Generation, At: next}); err != nil {
			return false, errkind.Wrap(errkind.Transient, err, "arm the first fire of schedule "+spec.Name+
				" on Dapr's scheduler (is the orchestrator's sidecar connected to the scheduler?)")
		}
		armed = append(armed, rec.Armed)
		replaced = old.Armed
		all[spec.Name] = rec
		return true, nil
	})
	if err != nil {
		// Fires armed for a schedule that was not saved find no such
		// generation and do nothing; they are removed here when possible.
		for _, a := range armed {
			_ = s.scheduler.Disarm(context.WithoutCancel(ctx), a)
		}
		return st, false, err
	}
	for _, a := range armed[:len(armed)-1] {
		_ = s.scheduler.Disarm(ctx, a)
	}
	if replaced != "" {
		if err := s.scheduler.Disarm(ctx, replaced); err != nil {
			// Its fire finds an older generation and does nothing.
			logging.WithTrace(ctx, s.log).Warn("the replaced schedule's armed fire was not removed; it will fire and do nothing",
				zap.String("schedule", spec.Name), zap.Error(err))
		}
	}
	logging.WithTrace(ctx, s.log).Info("schedule saved", zap.String("schedule", spec.Name), zap.String("connection", spec.Connection),
		zap.String("when", spec.Schedule.String()), zap.Time("next_run", next), zap.Bool("created", created))
	return status(rec), created, nil
}

// Delete removes a schedule and its armed fire.
func (s *Schedules) Delete(ctx context.Context, name string) error {
	if !job.ScheduleNamePattern.MatchString(name) {
		return errkind.New(errkind.Invalid, fmt.Sprintf("%q is not a schedule name (1 to 63 lowercase letters, digits or '-')", name))
	}
	var rec ScheduleRecord
	err := s.update(ctx, func(all map[string]ScheduleRecord) (bool, error) {
		var ok bool
		if rec, ok = all[name]; !ok {
			return false, errkind.New(errkind.NotFound, "schedule "+name+" does not exist; list schedules with `agentctl schedules`")
		}
		delete(all, name)
		return true, nil
	})
	if err != nil {
		return err
	}
	if err := s.audit.Record(ctx, audit.Entry{Action: audit.ActionScheduleDeleted, Actor: "client", App: "orchestrator", Target: name,
		Outcome: audit.OutcomeOK, Details: map[string]string{"connection": rec.Spec.Connection}}); err != nil {
		logging.WithTrace(ctx, s.log).Warn("the deletion of a schedule was not recorded in the audit log", zap.String("schedule", name), zap.Error(err))
	}
	if err := s.scheduler.Disarm(ctx, rec.Armed); err != nil {
		logging.WithTrace(ctx, s.log).Warn("the deleted schedule's armed fire was not removed; it will fire and do nothing",
			zap.String("schedule", name), zap.Error(err))
	}
	logging.WithTrace(ctx, s.log).Info("schedule deleted", zap.String("schedule", name))
	return nil
}

// List answers every schedule, by name.
func (s *Schedules) List(ctx context.Context) (job.ScheduleList, error) {
	all, _, err := s.store.Load(ctx)
	if err != nil {
		return job.ScheduleList{}, errkind.Wrap(errkind.Transient, err, "read the schedules")
	}
	s.metrics.schedulesRegistered(len(all))
	out := job.ScheduleList{Schedules: []job.ScheduleStatus{}}
	for _, rec := range all {
		out.Schedules = append(out.Schedules, status(rec))
	}
	sort.Slice(out.Schedules, func(i, k int) bool { return out.Schedules[i].Name < out.Schedules[k].Name })
	return out, nil
}

func status(rec ScheduleRecord) job.ScheduleStatus {
	return job.ScheduleStatus{Name: rec.Spec.Name, Connection: rec.Spec.Connection, SourceKind: rec.Spec.Source.Kind,
		Schedule: *rec.Spec.Schedule, Description: rec.Spec.Schedule.String(), CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt,
		NextRun: rec.Next, LastRun: rec.Last, Started: rec.Started, Skipped: rec.Skipped}
}

// Fire handles one delivery of the scheduler job trigger: it starts the
// fire's run (or skips it while a run of the connection is still going),
// arms the next fire and records both. An error makes the scheduler
// deliver the fire again; every step is safe to repeat.
func (s *Schedules) Fire(ctx context.Context, trigger string, data []byte) error {
	log := logging.WithTrace(ctx, s.log).With(zap.String("trigger", trigger))
	var t Trigger
	if err := json.Unmarshal(data, &t); err != nil || t.Schedule == "" || t.At.IsZero() {
		// Not one of ours: nothing to retry.
		log.Warn("a scheduler job fired with data that is not a schedule's fire; ignored")
		return nil
	}
	log = log.With(zap.String("schedule", t.Schedule), zap.Time("fire_at", t.At))
	all, _, err := s.store.Load(ctx)
	if err != nil {
		s.metrics.scheduleFired(FireFailed)
		return errkind.Wrap(errkind.Transient, err, "read the schedules")
	}
	rec, ok := all[t.Schedule]
	if !ok || rec.Generation != t.Generation {
		log.Info("a fire of a schedule that was deleted or replaced since it was armed; nothing to do")
		return nil
	}
	fire, fresh, err := s.decide(ctx, rec, t)
	if err != nil {
		s.metrics.scheduleFired(FireFailed)
		log.Warn("the scheduled run was not submitted; the scheduler delivers the fire again", zap.Error(err))
		return err
	}
	next, err := rec.Spec.Schedule.Next(t.At, s.now().UTC())
	if err != nil {
		return errkind.Wrap(errkind.Invalid, err, "")
	}
	nextName := triggerName(t.Schedule, t.Generation, next)
	if err := s.scheduler.Arm(ctx, nextName, next, Trigger{Schedule: t.Schedule, Generation: t.Generation, At: next}); err != nil {
		s.metrics.scheduleFired(FireFailed)
		return errkind.Wrap(errkind.Transient, err, "arm the next fire of schedule "+t.Schedule)
	}
	stale := false
	err = s.update(ctx, func(all map[string]ScheduleRecord) (bool, error) {
		cur, ok := all[t.Schedule]
		if !ok || cur.Generation != t.Generation {
			stale = true
			return false, nil
		}
		if cur.Last != nil && !cur.Last.At.Before(t.At) {
			return false, nil // this fire, or a later one, is recorded already
		}
		cur.Last, cur.Next, cur.Armed = &fire, next, nextName
		if fire.Outcome == job.FireStarted {
			cur.Started++
		} else {
			cur.Skipped++
		}
		all[t.Schedule] = cur
		return true, nil
	})
	if stale {
		// Replaced or deleted while this fire ran: its next fire goes too.
		_ = s.scheduler.Disarm(ctx, nextName)
	}
	if err != nil {
		return err
	}
	if fresh {
		s.metrics.scheduleFired(fire.Outcome)
		log.Info("schedule fired", zap.String("outcome", fire.Outcome), zap.String("job_id", fire.JobID),
			zap.String("reason", fire.Reason), zap.Time("next_run", next))
	}
	return nil
}

// decide starts the fire's run or skips it; fresh is false when an earlier
// delivery of the same fire already decided (and its answer is repeated).
func (s *Schedules) decide(ctx context.Context, rec ScheduleRecord, t Trigger) (fire job.ScheduleFire, fresh bool, err error) {
	if rec.Last != nil && !rec.Last.At.Before(t.At) {
		if rec.Last.At.Equal(t.At) {
			return *rec.Last, false, nil
		}
		return job.ScheduleFire{At: t.At, Outcome: job.FireSkipped, Reason: "a later fire was handled already"}, false, nil
	}
	id := job.ScheduledJobID(t.Schedule, t.At)
	fire = job.ScheduleFire{At: t.At, Outcome: job.FireStarted, JobID: id}
	run, err := s.runner.Inspect(ctx, id)
	if err != nil {
		return fire, false, errkind.Wrap(errkind.Transient, err, "read the workflow of job "+id)
	}
	if run.Found {
		return fire, true, nil // submitted by an earlier delivery that did not get to record it
	}
	if busy, reason, err := s.busy(ctx, rec); err != nil {
		return fire, false, err
	} else if busy != "" {
		return job.ScheduleFire{At: t.At, Outcome: job.FireSkipped, JobID: busy, Reason: reason}, true, nil
	}
	spec := rec.Spec
	spec.Schedule = nil
	if _, err := s.jobs.SubmitScheduled(ctx, id, spec, t.Schedule); err != nil {
		return fire, false, err
	}
	return fire, true, nil
}

// busy names a run of the schedule's connection that is still queued or
// running: the schedule's own last run, or a job holding a slot of the
// connection.
func (s *Schedules) busy(ctx context.Context, rec ScheduleRecord) (jobID, reason string, err error) {
	if rec.Last != nil && rec.Last.Outcome == job.FireStarted {
		run, err := s.runner.Inspect(ctx, rec.Last.JobID)
		if err != nil {
			return "", "", errkind.Wrap(errkind.Transient, err, "read the workflow of job "+rec.Last.JobID)
		}
		if run.Found && !run.Finished() {
			return rec.Last.JobID, "the schedule's previous run is still " + string(run.JobStatus().State), nil
		}
	}
	slots, _, err := s.slots.Load(ctx, rec.Spec.Connection)
	if err != nil {
		return "", "", errkind.Wrap(errkind.Transient, err, "read the slots of connection "+rec.Spec.Connection)
	}
	for _, h := range slots.Holders {
		run, err := s.runner.Inspect(ctx, h)
		if err != nil {
			return "", "", errkind.Wrap(errkind.Transient, err, "read the workflow of job "+h)
		}
		if run.Found && !run.Finished() {
			return h, "job " + h + " of connection " + rec.Spec.Connection + " is still running", nil
		}
	}
	return "", "", nil
}

// Reconcile arms every schedule whose armed fire is gone from the
// scheduler (its retries ran out, or the scheduler lost its data): the
// chain of fires never stays broken for longer than one reconcile. A fire
// armed again that was already handled does nothing twice.
func (s *Schedules) Reconcile(ctx context.Context) error {
	all, _, err := s.store.Load(ctx)
	if err != nil {
		return errkind.Wrap(errkind.Transient, err, "read the schedules")
	}
	s.metrics.schedulesRegistered(len(all))
	for name, rec := range all {
		ok, err := s.scheduler.Armed(ctx, rec.Armed)
		if err != nil {
			return fmt.Errorf("read the armed fire of schedule %s: %w", name, err)
		}
		if ok {
			continue
		}
		at := rec.Next
		if now := s.now().UTC(); at.Before(now) {
			at = now
		}
		s.log.Warn("a schedule's armed fire is missing from the scheduler; arming it again", zap.String("schedule", name),
			zap.String("trigger", rec.Armed), zap.Time("fire_at", rec.Next))
		if err := s.scheduler.Arm(ctx, rec.Armed, at, Trigger{Schedule: name, Generation: rec.Generation, At: rec.Next}); err != nil {
			return fmt.Errorf("arm the fire of schedule %s again: %w", name, err)
		}
	}
	return nil
}

// RunReconciler reconciles at start and every interval until ctx ends.
func (s *Schedules) RunReconciler(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	first := time.After(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-first:
		case <-tick.C:
		}
		if err := s.Reconcile(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("checking that every schedule has its next fire armed failed; trying again later", zap.Error(err))
		}
	}
}
