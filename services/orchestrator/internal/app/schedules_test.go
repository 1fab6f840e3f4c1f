package app

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
)

// memSchedules is a ScheduleStore with a state store's etag semantics.
type memSchedules struct {
	mu   sync.Mutex
	all  map[string]ScheduleRecord
	etag int
	// beforeSave, when set, runs once inside Save first (a rival writer).
	beforeSave func()
}

func (m *memSchedules) Load(context.Context) (map[string]ScheduleRecord, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, _ := json.Marshal(m.all)
	var out map[string]ScheduleRecord
	_ = json.Unmarshal(b, &out)
	return out, strconv.Itoa(m.etag), nil
}

func (m *memSchedules) Save(_ context.Context, all map[string]ScheduleRecord, etag string) error {
	if hook := m.beforeSave; hook != nil {
		m.beforeSave = nil
		hook()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if etag != strconv.Itoa(m.etag) {
		return errkind.New(errkind.Conflict, "etag mismatch")
	}
	m.all, m.etag = all, m.etag+1
	return nil
}

// memScheduler is Dapr's scheduler: armed one-shot jobs by name.
type memScheduler struct {
	mu     sync.Mutex
	armed  map[string]Trigger
	due    map[string]time.Time
	armErr error
}

func newMemScheduler() *memScheduler {
	return &memScheduler{armed: map[string]Trigger{}, due: map[string]time.Time{}}
}

func (s *memScheduler) Arm(_ context.Context, name string, at time.Time, t Trigger) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.armErr != nil {
		return s.armErr
	}
	s.armed[name], s.due[name] = t, at
	return nil
}

func (s *memScheduler) Disarm(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.armed, name)
	return nil
}

func (s *memScheduler) Armed(_ context.Context, name string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.armed[name]
	return ok, nil
}

// deliver fires name as the sidecar does; a successful fire removes the
// one-shot job, as the scheduler does.
func (s *memScheduler) deliver(t *testing.T, sch *Schedules, name string) error {
	t.Helper()
	s.mu.Lock()
	tr, ok := s.armed[name]
	s.mu.Unlock()
	require.True(t, ok, "%s is not armed", name)
	b, _ := json.Marshal(tr)
	err := sch.Fire(context.Background(), name, b)
	if err == nil {
		_ = s.Disarm(context.Background(), name)
	}
	return err
}

func (s *memScheduler) only(t *testing.T) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	require.Len(t, s.armed, 1, "one fire armed")
	for n := range s.armed {
		return n
	}
	return ""
}

const scheduledSpec = validSpec + "schedule: {every: 1h}\n"

type scheduleWorld struct {
	store *memSchedules
	sched *memScheduler
	runs  *memRuns
	slots *memSlots
	jobs  *memJobs
	s     *Schedules
	now   time.Time
}

func newScheduleWorld() *scheduleWorld {
	w := &scheduleWorld{store: &memSchedules{}, sched: newMemScheduler(), runs: newMemRuns(), slots: newMemSlots(), jobs: newMemJobs(),
		now: time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return w.now }
	jobs := newTestJobsAt(w.jobs, w.runs, clock)
	w.s = NewSchedules(w.store, w.sched, jobs, w.runs, w.slots, SchedulesOptions{Now: clock})
	return w
}

func (w *scheduleWorld) list(t *testing.T) job.ScheduleStatus {
	t.Helper()
	l, err := w.s.List(context.Background())
	require.NoError(t, err)
	require.Len(t, l.Schedules, 1)
	return l.Schedules[0]
}

func TestSchedulePutArmsTheFirstFire(t *testing.T) {
	w := newScheduleWorld()
	st, created, err := w.s.Put(context.Background(), []byte(scheduledSpec))
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, "nightly", st.Name)
	require.Equal(t, w.now.Add(time.Hour), st.NextRun)
	name := w.sched.only(t)
	require.Equal(t, triggerName("nightly", 1, w.now.Add(time.Hour)), name)
	require.Equal(t, w.now.Add(time.Hour), w.sched.due[name])

	// Replacing it arms the new generation's fire and removes the old one.
	st, created, err = w.s.Put(context.Background(), []byte(validSpec+"schedule: {every: 2h}\n"))
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, triggerName("nightly", 2, w.now.Add(2*time.Hour)), w.sched.only(t))
	require.Equal(t, "every 2h0m0s", st.Description)
}

func TestSchedulePutRefusesWhatIsNotASchedule(t *testing.T) {
	w := newScheduleWorld()
	_, _, err := w.s.Put(context.Background(), []byte(validSpec))
	require.Equal(t, errkind.Invalid, errkind.Of(err))
	require.ErrorContains(t, err, "this spec has no schedule")
	_, _, err = w.s.Put(context.Background(), []byte(validSpec+"schedule: {every: 1s}\n"))
	require.ErrorContains(t, err, "use at least 10s")

	// A scheduled spec is not a job.
	_, err = w.s.jobs.Submit(context.Background(), []byte(scheduledSpec), "")
	require.ErrorContains(t, err, "register it with `agentctl schedules add SPEC`")
}

func TestSchedulePutFailsWhenTheSchedulerIsUnreachable(t *testing.T) {
	w := newScheduleWorld()
	w.sched.armErr = errors.New("connection refused")
	_, _, err := w.s.Put(context.Background(), []byte(scheduledSpec))
	require.Equal(t, errkind.Transient, errkind.Of(err))
	require.ErrorContains(t, err, "is the orchestrator's sidecar connected to the scheduler?")
	l, err := w.s.List(context.Background())
	require.NoError(t, err)
	require.Empty(t, l.Schedules, "nothing saved without its first fire")
}

func TestScheduleFireStartsARunAndArmsTheNext(t *testing.T) {
	w := newScheduleWorld()
	_, _, err := w.s.Put(context.Background(), []byte(scheduledSpec))
	require.NoError(t, err)
	first := w.sched.only(t)
	fireAt := w.now.Add(time.Hour)
	w.now = fireAt.Add(2 * time.Second) // delivered a little late
	require.NoError(t, w.sched.deliver(t, w.s, first))

	id := job.ScheduledJobID("nightly", fireAt)
	require.Equal(t, "s-20261204-110000-nightly", id)
	rec, ok := w.jobs.recs[id]
	require.True(t, ok, "the fire's job is recorded")
	require.Nil(t, rec.Spec.Schedule, "the run is one job")
	require.Equal(t, triggerName("nightly", 1, fireAt.Add(time.Hour)), w.sched.only(t), "the next fire keeps the phase")
	st := w.list(t)
	require.Equal(t, &job.ScheduleFire{At: fireAt, Outcome: job.FireStarted, JobID: id}, st.LastRun)
	require.Equal(t, fireAt.Add(time.Hour), st.NextRun)
	require.EqualValues(t, 1, st.Started)
}

func TestScheduleFireDeliveredTwiceStartsOneRun(t *testing.T) {
	w := newScheduleWorld()
	_, _, err := w.s.Put(context.Background(), []byte(scheduledSpec))
	require.NoError(t, err)
	first := w.sched.only(t)
	tr := w.sched.armed[first]
	b, _ := json.Marshal(tr)
	w.now = tr.At
	require.NoError(t, w.s.Fire(context.Background(), first, b))
	require.NoError(t, w.s.Fire(context.Background(), first, b), "a redelivery")
	require.Len(t, w.jobs.recs, 1)
	require.EqualValues(t, 1, w.list(t).Started)

	// A delivery that started the job and crashed before recording it:
	// the redelivery finds the job and records it, without a second one.
	w2 := newScheduleWorld()
	_, _, err = w2.s.Put(context.Background(), []byte(scheduledSpec))
	require.NoError(t, err)
	first = w2.sched.only(t)
	tr = w2.sched.armed[first]
	b, _ = json.Marshal(tr)
	w2.now = tr.At
	_, err = w2.s.jobs.SubmitScheduled(context.Background(), job.ScheduledJobID("nightly", tr.At), w2.mustRec(t).Spec, "nightly")
	require.NoError(t, err)
	require.NoError(t, w2.s.Fire(context.Background(), first, b))
	require.Len(t, w2.jobs.recs, 1, "the job the first delivery started, and no other")
	require.Equal(t, job.FireStarted, w2.list(t).LastRun.Outcome)
}

func (w *scheduleWorld) mustRec(t *testing.T) ScheduleRecord {
	t.Helper()
	all, _, err := w.store.Load(context.Background())
	require.NoError(t, err)
	rec := all["nightly"]
	rec.Spec.Schedule = nil
	return rec
}

func TestScheduleFireSkipsWhileARunIsGoing(t *testing.T) {
	w := newScheduleWorld()
	_, _, err := w.s.Put(context.Background(), []byte(scheduledSpec))
	require.NoError(t, err)
	w.now = w.now.Add(time.Hour)
	require.NoError(t, w.sched.deliver(t, w.s, w.sched.only(t)))
	firstJob := w.list(t).LastRun.JobID
	w.runs.set(firstJob, Run{State: RunRunning})

	// Still running an hour later: the fire is skipped, counted and armed on.
	w.now = w.now.Add(time.Hour)
	require.NoError(t, w.sched.deliver(t, w.s, w.sched.only(t)))
	st := w.list(t)
	require.Equal(t, job.FireSkipped, st.LastRun.Outcome)
	require.Equal(t, firstJob, st.LastRun.JobID)
	require.Contains(t, st.LastRun.Reason, "previous run is still")
	require.EqualValues(t, 1, st.Started)
	require.EqualValues(t, 1, st.Skipped)
	require.Len(t, w.jobs.recs, 1)

	// Another job of the connection holds its slot: skipped too.
	w.runs.set(firstJob, Run{State: RunCompleted})
	w.slots.put("default/postgres/1", "j-manual")
	w.runs.set("j-manual", Run{State: RunRunning})
	w.now = w.now.Add(time.Hour)
	require.NoError(t, w.sched.deliver(t, w.s, w.sched.only(t)))
	st = w.list(t)
	require.Equal(t, job.FireSkipped, st.LastRun.Outcome)
	require.Contains(t, st.LastRun.Reason, "job j-manual of connection default/postgres/1 is still running")

	// Once nothing runs, the next fire starts a run.
	w.runs.set("j-manual", Run{State: RunCompleted})
	w.now = w.now.Add(time.Hour)
	require.NoError(t, w.sched.deliver(t, w.s, w.sched.only(t)))
	st = w.list(t)
	require.Equal(t, job.FireStarted, st.LastRun.Outcome)
	require.EqualValues(t, 2, st.Started)
	require.EqualValues(t, 2, st.Skipped)
}

func TestScheduleFireOfAReplacedOrDeletedScheduleDoesNothing(t *testing.T) {
	w := newScheduleWorld()
	_, _, err := w.s.Put(context.Background(), []byte(scheduledSpec))
	require.NoError(t, err)
	old := w.sched.only(t)
	tr := w.sched.armed[old]
	_, _, err = w.s.Put(context.Background(), []byte(validSpec+"schedule: {every: 2h}\n"))
	require.NoError(t, err)
	b, _ := json.Marshal(tr)
	w.now = tr.At
	require.NoError(t, w.s.Fire(context.Background(), old, b), "acknowledged: nothing to retry")
	require.Empty(t, w.jobs.recs)

	require.NoError(t, w.s.Delete(context.Background(), "nightly"))
	require.Empty(t, w.sched.armed, "the deleted schedule's fire is removed")
	require.Equal(t, errkind.NotFound, errkind.Of(w.s.Delete(context.Background(), "nightly")))
	require.NoError(t, w.s.Fire(context.Background(), old, b))
	require.Empty(t, w.jobs.recs)
	require.NoError(t, w.s.Fire(context.Background(), "schedule-x", []byte("not json")), "garbage is acknowledged, not retried")
}

func TestScheduleFireFailsSoTheSchedulerRetries(t *testing.T) {
	w := newScheduleWorld()
	_, _, err := w.s.Put(context.Background(), []byte(scheduledSpec))
	require.NoError(t, err)
	first := w.sched.only(t)
	w.now = w.now.Add(time.Hour)
	w.runs.startErr = errors.New("engine unavailable")
	require.Error(t, w.sched.deliver(t, w.s, first))
	require.Nil(t, w.list(t).LastRun)
	w.runs.startErr = nil
	require.NoError(t, w.sched.deliver(t, w.s, first), "the retry starts it")
	require.Equal(t, job.FireStarted, w.list(t).LastRun.Outcome)
}

func TestScheduleReconcileArmsAMissingFire(t *testing.T) {
	w := newScheduleWorld()
	_, _, err := w.s.Put(context.Background(), []byte(scheduledSpec))
	require.NoError(t, err)
	name := w.sched.only(t)
	require.NoError(t, w.s.Reconcile(context.Background()))
	require.Equal(t, name, w.sched.only(t), "an armed fire is left alone")

	// The scheduler lost it (retries ran out, data lost) and its time passed.
	_ = w.sched.Disarm(context.Background(), name)
	w.now = w.now.Add(3 * time.Hour)
	require.NoError(t, w.s.Reconcile(context.Background()))
	require.Equal(t, name, w.sched.only(t))
	require.Equal(t, w.now, w.sched.due[name], "due now")
	require.NoError(t, w.sched.deliver(t, w.s, name))
	st := w.list(t)
	require.Equal(t, job.FireStarted, st.LastRun.Outcome)
	require.Equal(t, time.Date(2026, 12, 4, 14, 0, 0, 0, time.UTC), st.NextRun, "in phase, after now")
	require.Len(t, w.jobs.recs, 1, "one run for the missed fires")
}
