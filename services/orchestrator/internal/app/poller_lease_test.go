package app

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/controlplane"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/lease"
	"github.com/secure-agent/secure-agent/libs/lease/leasetest"
)

// replica is one orchestrator's poller loop over a shared state store.
type replica struct {
	view *leasetest.Cut
	work *fakeWork
	stop func()
	done chan struct{}
}

const testPollerTTL = 600 * time.Millisecond

func startReplica(t *testing.T, st *leasetest.MemStore, name string, w *fakeWork, jobs *fakeLeasedJobs) *replica {
	t.Helper()
	r := &replica{view: &leasetest.Cut{MemStore: st}, work: w, done: make(chan struct{})}
	l := lease.New(r.view, "controlplane-poller", name, testPollerTTL)
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = func() { cancel(); <-r.done }
	newPoller := func(held LeaseStore) *Poller {
		return NewPoller(w, jobs, held, PollerOptions{AgentID: "agent-1", Check: 10 * time.Millisecond, RetryWait: 10 * time.Millisecond})
	}
	go func() { RunPolling(ctx, l, nil, newPoller, nil, zap.NewNop()); close(r.done) }()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			r.stop()
		}
	})
	return r
}

// Two replicas: one polls; when it is cut off from the state store it
// stops polling and the other takes over within the TTL plus its retry
// interval, resuming the control-plane lease the first was keeping, so
// the leased job is neither run twice nor lost.
func TestOneReplicaPollsAndAnotherTakesOver(t *testing.T) {
	st, jobs := leasetest.NewMemStore(), newFakeLeasedJobs()
	// Both replicas talk to the same control plane.
	w := newFakeWork(cpLease(1, leasedSpecJSON))
	a := startReplica(t, st, "orchestrator", w, jobs)
	require.Eventually(t, func() bool { _, ok := jobs.state("job-1"); return ok }, 5*time.Second, 5*time.Millisecond)
	b := startReplica(t, st, "orchestrator-2", w, jobs)
	jobs.set("job-1", job.Running)
	require.Eventually(t, func() bool { return len(w.reported("lease-1")) == 2 }, 5*time.Second, 5*time.Millisecond)

	var rec lease.Record
	_, _, err := st.Load(context.Background(), "controlplane-poller", &rec)
	require.NoError(t, err)
	require.Equal(t, "orchestrator", rec.Holder, "the first replica polls")
	require.EqualValues(t, 1, rec.Term)

	// The holder loses its state store: it must stop, the other take over.
	cut := time.Now()
	a.view.Set(true)
	require.Eventually(t, func() bool {
		_, _, _ = st.Load(context.Background(), "controlplane-poller", &rec)
		return rec.Holder == "orchestrator-2"
	}, 3*testPollerTTL, 10*time.Millisecond, "the other replica takes over")
	took := time.Since(cut)
	require.LessOrEqual(t, took, testPollerTTL+testPollerTTL/5+testPollerTTL/2+200*time.Millisecond, "takeover bound")
	require.EqualValues(t, 2, rec.Term)
	require.Contains(t, string(rec.Data), "lease-1", "the control-plane lease moved with the poller lease")

	// The new holder keeps the job's lease and reports its end; the job ran once.
	renewed := w.renewed("lease-1")
	require.Eventually(t, func() bool { return w.renewed("lease-1") > renewed }, 5*time.Second, 10*time.Millisecond)
	jobs.set("job-1", job.Succeeded)
	require.Eventually(t, func() bool { return len(w.reported("lease-1")) == 3 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, []controlplane.State{controlplane.StateAccepted, controlplane.StateRunning, controlplane.StateSucceeded}, w.reported("lease-1"))
	jobs.mu.Lock()
	require.Equal(t, 1, jobs.submits, "the job was submitted once")
	require.Empty(t, jobs.cancelled, "the job was not cancelled by the takeover")
	jobs.mu.Unlock()

	// New work goes to the new holder, and the old one, reconnected, does
	// not poll (it stands by).
	a.view.Set(false)
	w.add(cpLease(2, leasedSpecJSON))
	require.Eventually(t, func() bool { _, ok := jobs.state("job-2"); return ok }, 5*time.Second, 5*time.Millisecond)
	time.Sleep(testPollerTTL) // a stand-by replica would have retaken it by now
	_, _, _ = st.Load(context.Background(), "controlplane-poller", &rec)
	require.Equal(t, "orchestrator-2", rec.Holder)

	// A holder shutting down releases the lease: the other polls at once.
	stopAt := time.Now()
	b.stop()
	require.Eventually(t, func() bool {
		_, _, _ = st.Load(context.Background(), "controlplane-poller", &rec)
		return rec.Holder == "orchestrator"
	}, 2*testPollerTTL, 10*time.Millisecond)
	require.Less(t, time.Since(stopAt), testPollerTTL, "a released lease is taken without waiting for the TTL")
	require.Contains(t, string(rec.Data), "lease-2")
}
