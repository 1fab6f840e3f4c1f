package app

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func wakes(runs *memRuns, id string) int {
	n := 0
	for _, ev := range runs.events(id) {
		if ev.Type == EventWake {
			n++
		}
	}
	return n
}

// A workflow that stays pending after its start (its start reminder was
// spent before its state existed) is woken by the watcher the start set.
func TestAStartedWorkflowStillPendingIsWoken(t *testing.T) {
	store, runs := newMemJobs(), newMemRuns()
	n := 0
	jobs := NewJobs(store, store, runs, manifests{}, JobsOptions{Submissions: store, WakeAfter: 30 * time.Millisecond,
		NewID: func(time.Time) string { n++; return fmt.Sprintf("j-%d", n) }})
	_, err := jobs.Submit(context.Background(), []byte(validSpec), "")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return wakes(runs, "j-1") == 1 }, 5*time.Second, 10*time.Millisecond)
	// Once it runs, it is left alone.
	run, err := runs.Inspect(context.Background(), "j-1")
	require.NoError(t, err)
	run.State = RunRunning
	runs.set("j-1", run)
	_, err = jobs.Get(context.Background(), "j-1")
	require.NoError(t, err)
	require.Equal(t, 1, wakes(runs, "j-1"))
}

// A client reading a job whose workflow has been pending for WakeAfter
// wakes it, at most once per WakeAfter; a younger pending workflow, or one
// that runs, is not woken.
func TestReadingAStuckJobWakesItsWorkflow(t *testing.T) {
	store, runs := newMemJobs(), newMemRuns()
	var mu sync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	at := func(d time.Duration) { mu.Lock(); now = t0.Add(d); mu.Unlock() }
	jobs := NewJobs(store, store, runs, manifests{}, JobsOptions{Now: clock})
	in, _ := json.Marshal(WorkflowInput{JobID: "j-9", SubmittedAt: t0})
	runs.set("j-9", Run{State: RunPending, Input: string(in)})
	ctx := context.Background()
	get := func() {
		t.Helper()
		_, err := jobs.Get(ctx, "j-9")
		require.NoError(t, err)
	}

	at(10 * time.Second)
	get()
	require.Equal(t, 0, wakes(runs, "j-9"), "pending for less than WakeAfter")
	at(DefaultWakeAfter + time.Second)
	get()
	require.Equal(t, 1, wakes(runs, "j-9"))
	get()
	require.Equal(t, 1, wakes(runs, "j-9"), "once per WakeAfter")
	at(2*DefaultWakeAfter + 2*time.Second)
	get()
	require.Equal(t, 2, wakes(runs, "j-9"))

	runs.set("j-9", Run{State: RunRunning, Input: string(in)})
	at(4 * DefaultWakeAfter)
	get()
	require.Equal(t, 2, wakes(runs, "j-9"), "a running workflow is not woken")
}

// The workflow ignores a wake: it only makes the engine run it.
func TestTheWorkflowIgnoresAWake(t *testing.T) {
	m := NewMachine(WorkflowInput{JobID: "j-1", Spec: testSpec(2, 1, time.Minute)}, t0)
	require.Equal(t, Ignored, m.Handle(WakeEvent(), t0))
}
