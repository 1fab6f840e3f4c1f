package app

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/controlplane"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
)

// fakeWork is a control plane's work queue: leases handed out in order,
// renewals answered until a lease is marked lost, reports recorded.
type fakeWork struct {
	mu       sync.Mutex
	queue    []controlplane.Lease
	lost     map[string]bool
	reports  map[string][]controlplane.State // by lease id
	renewals map[string]int
	released []string
}

func newFakeWork(leases ...controlplane.Lease) *fakeWork {
	return &fakeWork{queue: leases, lost: map[string]bool{}, reports: map[string][]controlplane.State{}, renewals: map[string]int{}}
}

func (f *fakeWork) PollWork(ctx context.Context, _ string, _ time.Duration) (*controlplane.Lease, error) {
	f.mu.Lock()
	if len(f.queue) > 0 {
		l := f.queue[0]
		f.queue = f.queue[1:]
		f.mu.Unlock()
		return &l, nil
	}
	f.mu.Unlock()
	select { // a long-poll that answers nothing
	case <-ctx.Done():
	case <-time.After(20 * time.Millisecond):
	}
	return nil, nil
}

func (f *fakeWork) add(l controlplane.Lease) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queue = append(f.queue, l)
}

func (f *fakeWork) RenewLease(_ context.Context, id string) (*controlplane.Lease, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.renewals[id]++
	if f.lost[id] {
		return nil, errkind.New(errkind.Conflict, "lease "+id+" is expired")
	}
	return &controlplane.Lease{LeaseID: id, ExpiresAt: time.Now().Add(3 * time.Second)}, nil
}

func (f *fakeWork) ReportStatus(_ context.Context, id string, r controlplane.StatusReport) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lost[id] {
		return errkind.New(errkind.Conflict, "lease "+id+" is expired")
	}
	f.reports[id] = append(f.reports[id], r.State)
	return nil
}

func (f *fakeWork) ReleaseLease(_ context.Context, id, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released = append(f.released, id)
	return nil
}

func (f *fakeWork) lose(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lost[id] = true
}

func (f *fakeWork) reported(id string) []controlplane.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]controlplane.State(nil), f.reports[id]...)
}

func (f *fakeWork) renewed(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.renewals[id]
}

type fakeLeaseStore struct {
	mu     sync.Mutex
	leases map[string]LeaseRecord
}

func (s *fakeLeaseStore) Load(context.Context) (map[string]LeaseRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]LeaseRecord{}
	for k, v := range s.leases {
		out[k] = v
	}
	return out, nil
}

func (s *fakeLeaseStore) Save(_ context.Context, l map[string]LeaseRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leases = l
	return nil
}

func (s *fakeLeaseStore) held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.leases)
}

// fakeLeasedJobs runs nothing: tests move jobs between states.
type fakeLeasedJobs struct {
	mu        sync.Mutex
	states    map[string]job.State
	specs     map[string]job.Spec
	submits   int
	cancelled []string
}

func newFakeLeasedJobs() *fakeLeasedJobs {
	return &fakeLeasedJobs{states: map[string]job.State{}, specs: map[string]job.Spec{}}
}

func (j *fakeLeasedJobs) SubmitAs(_ context.Context, id string, spec job.Spec) (bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.states[id]; ok {
		return false, nil
	}
	j.submits++
	j.states[id], j.specs[id] = job.Pending, spec
	return true, nil
}

func (j *fakeLeasedJobs) Get(_ context.Context, id string) (job.Status, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	st, ok := j.states[id]
	if !ok {
		return job.Status{}, errkind.New(errkind.NotFound, "job "+id+" is unknown")
	}
	out := job.Status{ID: id, State: st, Assets: 7}
	if st != job.Pending {
		started := time.Now()
		out.StartedAt = &started
	}
	return out, nil
}

func (j *fakeLeasedJobs) Cancel(_ context.Context, id string) (job.Submitted, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.cancelled = append(j.cancelled, id)
	// Like the workflow, the job stops a little later, not at once.
	go func() {
		time.Sleep(50 * time.Millisecond)
		j.set(id, job.Cancelled)
	}()
	return job.Submitted{ID: id, State: job.Running}, nil
}

func (j *fakeLeasedJobs) set(id string, st job.State) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.states[id] = st
}

func (j *fakeLeasedJobs) state(id string) (job.State, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	st, ok := j.states[id]
	return st, ok
}

const leasedSpecJSON = `{"version":1,"connection":"default/sqlite/1","source":{"kind":"sqlite","dsn":"file:/tmp/x.db"}}`

func cpLease(n int, spec string) controlplane.Lease {
	return controlplane.Lease{LeaseID: fmt.Sprintf("lease-%d", n), JobID: fmt.Sprintf("job-%d", n),
		ExpiresAt: time.Now().Add(3 * time.Second), DurationSeconds: 3, Spec: json.RawMessage(spec)}
}

func startPoller(t *testing.T, w *fakeWork, jobs *fakeLeasedJobs, store *fakeLeaseStore) (stop func()) {
	return startPollerWith(t, w, jobs, store, 0)
}

func startPollerWith(t *testing.T, w *fakeWork, jobs *fakeLeasedJobs, store *fakeLeaseStore, maxJobs int) (stop func()) {
	t.Helper()
	p := NewPoller(w, jobs, store, PollerOptions{AgentID: "agent-1", MaxJobs: maxJobs, Check: 10 * time.Millisecond, RetryWait: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

func TestPollerRunsLeasedJobAndReportsEveryTransition(t *testing.T) {
	w, jobs, store := newFakeWork(cpLease(1, leasedSpecJSON)), newFakeLeasedJobs(), &fakeLeaseStore{}
	stop := startPoller(t, w, jobs, store)
	defer stop()

	require.Eventually(t, func() bool { _, ok := jobs.state("job-1"); return ok }, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return len(w.reported("lease-1")) == 1 && store.held() == 1 }, 5*time.Second, 5*time.Millisecond)
	jobs.mu.Lock()
	spec := jobs.specs["job-1"]
	jobs.mu.Unlock()
	require.Equal(t, []job.Destination{{Binding: job.DestinationControlPlane, Prefix: job.DefaultPrefix, JobID: "job-1"}}, spec.Destinations,
		"a leased spec without destinations sends its files back to the control plane")

	jobs.set("job-1", job.Running)
	require.Eventually(t, func() bool { return len(w.reported("lease-1")) == 2 }, 5*time.Second, 5*time.Millisecond)
	jobs.set("job-1", job.Succeeded)
	require.Eventually(t, func() bool { return len(w.reported("lease-1")) == 3 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, []controlplane.State{controlplane.StateAccepted, controlplane.StateRunning, controlplane.StateSucceeded}, w.reported("lease-1"))
	require.Eventually(t, func() bool { return store.held() == 0 }, 5*time.Second, 5*time.Millisecond, "a finished job's lease is no longer held")
}

func TestPollerRenewsAndCancelsTheJobOfALostLease(t *testing.T) {
	w, jobs, store := newFakeWork(cpLease(1, leasedSpecJSON)), newFakeLeasedJobs(), &fakeLeaseStore{}
	stop := startPollerWith(t, w, jobs, store, 1) // no free slot: the job cannot be adopted under a new lease
	defer stop()
	require.Eventually(t, func() bool { return w.renewed("lease-1") >= 1 }, 5*time.Second, 10*time.Millisecond, "the lease is renewed (every third of its 3s)")
	jobs.set("job-1", job.Running)
	require.Eventually(t, func() bool { return len(w.reported("lease-1")) == 2 }, 5*time.Second, 5*time.Millisecond)

	// The lease is lost and the control plane has the job queued again at
	// once: it must not be mistaken for a running job while it stops.
	w.lose("lease-1")
	w.add(controlplane.Lease{LeaseID: "lease-2", JobID: "job-1", ExpiresAt: time.Now().Add(3 * time.Second), DurationSeconds: 3, Spec: json.RawMessage(leasedSpecJSON)})
	require.Eventually(t, func() bool { _, ok := jobs.state("job-1.r2"); return ok }, 5*time.Second, 5*time.Millisecond,
		"the job leased again runs afresh under a rerun id")
	st, _ := jobs.state("job-1")
	require.Equal(t, job.Cancelled, st)
	require.Equal(t, []controlplane.State{controlplane.StateAccepted, controlplane.StateRunning}, w.reported("lease-1"),
		"no result is reported for a lost lease")
	jobs.set("job-1.r2", job.Succeeded)
	require.Eventually(t, func() bool { return len(w.reported("lease-2")) == 3 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, []controlplane.State{controlplane.StateAccepted, controlplane.StateRunning, controlplane.StateSucceeded}, w.reported("lease-2"),
		"a job that ran between two checks is reported running before its result")
	require.Eventually(t, func() bool { return store.held() == 0 }, 5*time.Second, 5*time.Millisecond)
}

func TestPollerResumesLeasesHeldBeforeARestart(t *testing.T) {
	w, jobs, store := newFakeWork(), newFakeLeasedJobs(), &fakeLeaseStore{}
	jobs.set("job-9", job.Running)
	store.leases = map[string]LeaseRecord{"job-9": {LeaseID: "lease-9", CPJobID: "job-9", JobID: "job-9",
		ExpiresAt: time.Now().Add(3 * time.Second), Duration: 3, Reported: string(controlplane.StateRunning)}}
	stop := startPoller(t, w, jobs, store)
	defer stop()
	require.Eventually(t, func() bool { return w.renewed("lease-9") >= 1 }, 5*time.Second, 10*time.Millisecond)
	jobs.set("job-9", job.Failed)
	require.Eventually(t, func() bool { return len(w.reported("lease-9")) == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, []controlplane.State{controlplane.StateFailed}, w.reported("lease-9"))
	require.Zero(t, jobs.submits, "a resumed lease starts nothing")
}

func TestPollerReportsAJobThatFinishedWhileUnleased(t *testing.T) {
	w, jobs, store := newFakeWork(cpLease(3, leasedSpecJSON)), newFakeLeasedJobs(), &fakeLeaseStore{}
	jobs.set("job-3", job.Succeeded)
	stop := startPoller(t, w, jobs, store)
	defer stop()
	require.Eventually(t, func() bool { return len(w.reported("lease-3")) == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, []controlplane.State{controlplane.StateSucceeded}, w.reported("lease-3"))
	require.Zero(t, jobs.submits, "a finished job is not run twice")
}

func TestPollerReportsAnInvalidSpecFailed(t *testing.T) {
	w, jobs, store := newFakeWork(cpLease(4, `{"version":1,"source":{"kind":"oracle"}}`)), newFakeLeasedJobs(), &fakeLeaseStore{}
	stop := startPoller(t, w, jobs, store)
	defer stop()
	require.Eventually(t, func() bool { return len(w.reported("lease-4")) == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, []controlplane.State{controlplane.StateFailed}, w.reported("lease-4"))
	require.Zero(t, jobs.submits)
}

func TestLeasedSpecKeepsExplicitDestinations(t *testing.T) {
	l := cpLease(5, `{"version":1,"connection":"c","source":{"kind":"sqlite","dsn":"file:/x.db"},
		"destinations":[{"binding":"s3"},{"binding":"controlplane"}]}`)
	spec, err := leasedSpec(l)
	require.NoError(t, err)
	require.Equal(t, []job.Destination{{Binding: "s3", Prefix: "jobs"}, {Binding: "controlplane", Prefix: "jobs", JobID: "job-5"}}, spec.Destinations)
}

func TestPollerAdoptsAJobLeasedAgainWhileItRuns(t *testing.T) {
	w, jobs, store := newFakeWork(cpLease(6, leasedSpecJSON)), newFakeLeasedJobs(), &fakeLeaseStore{}
	stop := startPoller(t, w, jobs, store)
	defer stop()
	require.Eventually(t, func() bool { return len(w.reported("lease-6")) == 1 }, 5*time.Second, 5*time.Millisecond)
	jobs.set("job-6", job.Running)
	require.Eventually(t, func() bool { return len(w.reported("lease-6")) == 2 }, 5*time.Second, 5*time.Millisecond)

	// The control plane lost patience and leased the job to us again
	// before our renewal: the running job carries on under the new lease.
	w.add(controlplane.Lease{LeaseID: "lease-7", JobID: "job-6", ExpiresAt: time.Now().Add(3 * time.Second), DurationSeconds: 3, Spec: json.RawMessage(leasedSpecJSON)})
	w.lose("lease-6")
	require.Eventually(t, func() bool {
		store.mu.Lock()
		defer store.mu.Unlock()
		return store.leases["job-6"].LeaseID == "lease-7"
	}, 5*time.Second, 5*time.Millisecond)
	jobs.set("job-6", job.Succeeded)
	require.Eventually(t, func() bool { return len(w.reported("lease-7")) == 2 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, []controlplane.State{controlplane.StateRunning, controlplane.StateSucceeded}, w.reported("lease-7"))
	require.Equal(t, 1, jobs.submits, "adopted, not started again")
	jobs.mu.Lock()
	defer jobs.mu.Unlock()
	require.Empty(t, jobs.cancelled)
}
