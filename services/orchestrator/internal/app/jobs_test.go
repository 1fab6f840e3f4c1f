package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
)

type memJobs struct {
	mu     sync.Mutex
	recs   map[string]JobRecord
	ids    []string
	addErr error
	keys   map[string]Submission
}

func newMemJobs() *memJobs { return &memJobs{recs: map[string]JobRecord{}} }

func (s *memJobs) Save(_ context.Context, rec JobRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs[rec.ID] = rec
	return nil
}

func (s *memJobs) Get(_ context.Context, id string) (JobRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.recs[id]
	if !ok {
		return rec, errkind.New(errkind.NotFound, "no record")
	}
	return rec, nil
}

func (s *memJobs) Add(_ context.Context, id string) error {
	if s.addErr != nil {
		return s.addErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Contains(s.ids, id) {
		return nil
	}
	s.ids = append(s.ids, id)
	return nil
}

func (s *memJobs) Latest(_ context.Context, limit int) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for i := len(s.ids) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, s.ids[i])
	}
	return out, nil
}

type manifests map[string]json.RawMessage

func (m manifests) Manifest(_ context.Context, id string) (json.RawMessage, error) {
	v, ok := m[id]
	if !ok {
		return nil, errkind.New(errkind.NotFound, "GET /v1/jobs/"+id+"/manifest on publisher answered 404: no manifest")
	}
	return v, nil
}

const validSpec = `version: 1
name: nightly
connection: default/postgres/1
source:
  kind: postgres
  dsn: postgres://agent@db:5432/sales
`

func newTestJobs(store *memJobs, runs *memRuns) *Jobs {
	return newTestJobsAt(store, runs, func() time.Time { return t0 })
}

func newTestJobsAt(store *memJobs, runs *memRuns, now func() time.Time) *Jobs {
	n := 0
	return NewJobs(store, store, runs, manifests{"j-1": json.RawMessage(`{"job_id":"j-1"}`)}, JobsOptions{
		ListLimit:   3,
		Submissions: store,
		Now:         now,
		NewID:       func(time.Time) string { n++; return fmt.Sprintf("j-%d", n) },
	})
}

func TestSubmitRecordsStartsAndIndexes(t *testing.T) {
	store, runs := newMemJobs(), newMemRuns()
	jobs := newTestJobs(store, runs)
	sub, err := jobs.Submit(context.Background(), []byte(validSpec), "")
	require.NoError(t, err)
	require.Equal(t, job.Submitted{ID: "j-1", State: job.Pending}, sub)
	require.Equal(t, "default/postgres/1", store.recs["j-1"].Spec.Connection)
	require.Equal(t, t0, store.recs["j-1"].SubmittedAt)
	require.Equal(t, []string{"j-1"}, store.ids)
	var in WorkflowInput
	require.NoError(t, json.Unmarshal([]byte(runs.runs["j-1"].Input), &in))
	require.Equal(t, "j-1", in.JobID)
	require.Equal(t, job.DefaultMaxParallel, in.Spec.Partitioning.MaxParallel, "the spec is normalized")

	st, err := jobs.Get(context.Background(), "j-1")
	require.NoError(t, err)
	require.Equal(t, job.Status{ID: "j-1", Name: "nightly", Connection: "default/postgres/1", SourceKind: "postgres",
		State: job.Pending, SubmittedAt: t0}, st)
}

func TestSubmitReportsEveryProblemAsInvalid(t *testing.T) {
	jobs := newTestJobs(newMemJobs(), newMemRuns())
	_, err := jobs.Submit(context.Background(), []byte("version: 2\nsource:\n  kind: oracle\n"), "")
	require.Equal(t, errkind.Invalid, errkind.Of(err))
	require.Contains(t, err.Error(), "version:")
	require.Contains(t, err.Error(), "connection:")
	require.Contains(t, err.Error(), "source.kind:")
}

func TestSubmitWhenTheEngineIsDown(t *testing.T) {
	ctx := context.Background()
	store, runs := newMemJobs(), newMemRuns()
	runs.startErr = errors.New("placement not connected")
	now := t0
	jobs := newTestJobsAt(store, runs, func() time.Time { return now })
	_, err := jobs.Submit(ctx, []byte(validSpec), "key-00000001")
	require.Equal(t, errkind.Transient, errkind.Of(err))
	require.Contains(t, err.Error(), "same idempotency key")
	require.Equal(t, []string{"j-1"}, store.ids, "a job whose start failed is listed: a start that timed out may still run")
	st, err := jobs.Get(ctx, "j-1")
	require.NoError(t, err)
	require.Equal(t, job.Pending, st.State, "its start may still be in flight")

	// The client retries with the same key once the engine is back: the
	// same job starts, no second one.
	runs.startErr = nil
	sub, err := jobs.Submit(ctx, []byte(validSpec), "key-00000001")
	require.NoError(t, err)
	require.Equal(t, "j-1", sub.ID)
	require.True(t, runs.runs["j-1"].Found)
	require.Equal(t, []string{"j-1"}, store.ids)
}

func TestAJobThatNeverStartedShowsFailedAfterTheGrace(t *testing.T) {
	ctx := context.Background()
	store, runs := newMemJobs(), newMemRuns()
	runs.startErr = errors.New("placement not connected")
	now := t0
	jobs := newTestJobsAt(store, runs, func() time.Time { return now })
	_, err := jobs.Submit(ctx, []byte(validSpec), "")
	require.Error(t, err)
	now = t0.Add(3 * time.Minute)
	st, err := jobs.Get(ctx, "j-1")
	require.NoError(t, err)
	require.Equal(t, job.Failed, st.State)
	require.Contains(t, st.Errors[0], "failed to start")
}

func TestAStartThatAnsweredAnErrorButRanIsSuccess(t *testing.T) {
	// A start whose answer timed out after the engine took it.
	store, runs := newMemJobs(), newMemRuns()
	jobs := newTestJobs(store, runs)
	runs.startErr = errors.New("deadline exceeded")
	runs.set("j-1", Run{State: RunPending})
	sub, err := jobs.Submit(context.Background(), []byte(validSpec), "")
	require.NoError(t, err)
	require.Equal(t, "j-1", sub.ID)
}

func TestSubmitFailsBeforeStartingWhenIndexingFails(t *testing.T) {
	store, runs := newMemJobs(), newMemRuns()
	store.addErr = errors.New("state store busy")
	_, err := newTestJobs(store, runs).Submit(context.Background(), []byte(validSpec), "")
	require.Equal(t, errkind.Transient, errkind.Of(err))
	require.False(t, runs.runs["j-1"].Found, "no job runs unlisted")
}

func TestIdempotencyKeys(t *testing.T) {
	ctx := context.Background()
	store, runs := newMemJobs(), newMemRuns()
	jobs := newTestJobs(store, runs)
	a, err := jobs.Submit(ctx, []byte(validSpec), "client-key-1")
	require.NoError(t, err)
	b, err := jobs.Submit(ctx, []byte(validSpec), "client-key-1")
	require.NoError(t, err)
	require.Equal(t, a.ID, b.ID, "a retried submit answers the same job")
	require.Equal(t, []string{a.ID}, store.ids, "and creates no second one")

	_, err = jobs.Submit(ctx, []byte(strings.Replace(validSpec, "nightly", "other", 1)), "client-key-1")
	require.Equal(t, errkind.Conflict, errkind.Of(err))
	require.Contains(t, err.Error(), "different spec")

	c, err := jobs.Submit(ctx, []byte(validSpec), "client-key-2")
	require.NoError(t, err)
	require.NotEqual(t, a.ID, c.ID)

	for _, bad := range []string{"short", "has space in it", "ünïcode-key"} {
		_, err = jobs.Submit(ctx, []byte(validSpec), bad)
		require.Equal(t, errkind.Invalid, errkind.Of(err), bad)
	}
}

type refusingDestinations struct{}

func (refusingDestinations) CheckDestinations(_ context.Context, dests []job.Destination) error {
	return errkind.New(errkind.Invalid, "destinations: "+dests[0].Binding+" is not a destination of the publisher")
}

func TestSubmitChecksDestinationsBeforeRecording(t *testing.T) {
	store, runs := newMemJobs(), newMemRuns()
	jobs := NewJobs(store, store, runs, manifests{}, JobsOptions{Destinations: refusingDestinations{}})
	_, err := jobs.Submit(context.Background(), []byte(validSpec), "")
	require.Equal(t, errkind.Invalid, errkind.Of(err))
	require.Contains(t, err.Error(), "destination is not a destination")
	require.Empty(t, store.recs, "nothing is stored for a spec that is refused")
}

func TestGetAndCancel(t *testing.T) {
	ctx := context.Background()
	store, runs := newMemJobs(), newMemRuns()
	jobs := newTestJobs(store, runs)
	_, err := jobs.Get(ctx, "j-404")
	require.Equal(t, errkind.NotFound, errkind.Of(err))
	_, err = jobs.Get(ctx, "../etc")
	require.Equal(t, errkind.Invalid, errkind.Of(err))
	_, err = jobs.Cancel(ctx, "j-404")
	require.Equal(t, errkind.NotFound, errkind.Of(err))

	running := job.Status{ID: "j-1", State: job.Running, Phase: PhaseExtract}
	b, _ := json.Marshal(running)
	runs.set("j-1", Run{State: RunRunning, CustomStatus: string(b)})
	sub, err := jobs.Cancel(ctx, "j-1")
	require.NoError(t, err)
	require.Equal(t, job.Submitted{ID: "j-1", State: job.Running}, sub)
	require.Equal(t, []Event{CancelEvent()}, runs.events("j-1"))

	done := job.Status{ID: "j-2", State: job.Succeeded}
	b, _ = json.Marshal(done)
	runs.set("j-2", Run{State: RunCompleted, Output: string(b), CustomStatus: string(b)})
	_, err = jobs.Cancel(ctx, "j-2")
	require.Equal(t, errkind.Conflict, errkind.Of(err))
	require.Contains(t, err.Error(), "succeeded")

	runs.notifyErr = errors.New("sidecar down")
	_, err = jobs.Cancel(ctx, "j-1")
	require.Equal(t, errkind.Transient, errkind.Of(err))
}

func TestListNewestFirstWithinTheLimit(t *testing.T) {
	ctx := context.Background()
	store, runs := newMemJobs(), newMemRuns()
	now := t0
	jobs := newTestJobsAt(store, runs, func() time.Time { return now })
	for range 4 {
		_, err := jobs.Submit(ctx, []byte(validSpec), "")
		require.NoError(t, err)
	}
	delete(runs.runs, "j-3") // a workflow that vanished still lists, from its record
	now = t0.Add(time.Hour)
	list, err := jobs.List(ctx, 0)
	require.NoError(t, err)
	var ids []string
	for _, st := range list.Jobs {
		ids = append(ids, st.ID)
	}
	require.Equal(t, []string{"j-4", "j-3", "j-2"}, ids, "newest first, capped at JOB_LIST_LIMIT")
	require.Equal(t, job.Failed, list.Jobs[1].State)
	require.Equal(t, "default/postgres/1", list.Jobs[1].Connection)
	require.Contains(t, list.Jobs[1].Errors[0], "workflow does not exist")
	st, err := jobs.Get(ctx, "j-3")
	require.NoError(t, err, "a record without a workflow still answers")
	require.Equal(t, list.Jobs[1], st)

	runs.inspectErr = errors.New("sidecar down")
	list, err = jobs.List(ctx, 1)
	require.NoError(t, err, "a listing survives unreadable workflows")
	require.Contains(t, list.Jobs[0].Errors[0], "status unavailable")
	runs.inspectErr = nil

	list, err = jobs.List(ctx, 1)
	require.NoError(t, err)
	require.Len(t, list.Jobs, 1)
	list, err = jobs.List(ctx, 1000)
	require.NoError(t, err)
	require.Len(t, list.Jobs, 3)
}

func TestManifestOfSucceededJobsOnly(t *testing.T) {
	ctx := context.Background()
	runs := newMemRuns()
	jobs := newTestJobs(newMemJobs(), runs)
	done, _ := json.Marshal(job.Status{ID: "j-1", State: job.Succeeded})
	runs.set("j-1", Run{State: RunCompleted, Output: string(done), CustomStatus: string(done)})
	m, err := jobs.Manifest(ctx, "j-1")
	require.NoError(t, err)
	require.JSONEq(t, `{"job_id":"j-1"}`, string(m))

	_, err = jobs.Manifest(ctx, "j-404")
	require.Equal(t, errkind.NotFound, errkind.Of(err))
	require.Contains(t, err.Error(), "job j-404 is unknown", "not \"not finalized (yet)\"")

	running, _ := json.Marshal(job.Status{ID: "j-2", State: job.Running})
	runs.set("j-2", Run{State: RunRunning, CustomStatus: string(running)})
	_, err = jobs.Manifest(ctx, "j-2")
	require.Equal(t, errkind.Conflict, errkind.Of(err))
	require.Contains(t, err.Error(), "is running")

	failed, _ := json.Marshal(job.Status{ID: "j-3", State: job.Failed})
	runs.set("j-3", Run{State: RunCompleted, Output: string(failed), CustomStatus: string(failed)})
	_, err = jobs.Manifest(ctx, "j-3")
	require.Equal(t, errkind.Conflict, errkind.Of(err))
	require.Contains(t, err.Error(), "failed: it has no manifest")
}

func TestRunJobStatus(t *testing.T) {
	in, _ := json.Marshal(WorkflowInput{JobID: "j-1", Spec: testSpec(1, 1, time.Minute), SubmittedAt: t0})
	custom, _ := json.Marshal(job.Status{ID: "j-1", State: job.Running, Phase: PhaseExtract, SubmittedAt: t0})
	final, _ := json.Marshal(job.Status{ID: "j-1", State: job.Succeeded, SubmittedAt: t0, Assets: 7})
	updated := t0.Add(time.Hour)
	cases := []struct {
		name   string
		run    Run
		state  job.State
		phase  string
		errors []string
	}{
		{"not started", Run{Found: true, State: RunPending, Input: string(in)}, job.Pending, "", nil},
		{"running", Run{Found: true, State: RunRunning, Input: string(in), CustomStatus: string(custom)}, job.Running, PhaseExtract, nil},
		{"completed", Run{Found: true, State: RunCompleted, Input: string(in), CustomStatus: string(custom), Output: string(final)}, job.Succeeded, "", nil},
		{"failed in the engine", Run{Found: true, State: RunFailed, Input: string(in), CustomStatus: string(custom), Failure: "nondeterministic workflow", UpdatedAt: updated},
			job.Failed, PhaseExtract, []string{"workflow failed: nondeterministic workflow"}},
		{"terminated", Run{Found: true, State: RunTerminated, Input: string(in), UpdatedAt: updated}, job.Failed, "",
			[]string{"the job's workflow was terminated outside the orchestrator; its cleanup did not run"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.run.JobStatus()
			require.Equal(t, "j-1", st.ID)
			require.Equal(t, t0, st.SubmittedAt)
			require.Equal(t, tc.state, st.State)
			require.Equal(t, tc.phase, st.Phase)
			require.Equal(t, tc.errors, st.Errors)
			if tc.run.State == RunFailed || tc.run.State == RunTerminated {
				require.Equal(t, updated, *st.FinishedAt)
			}
		})
	}
}

func (m manifests) Plan(_ context.Context, id string) (json.RawMessage, error) {
	return nil, errkind.New(errkind.NotFound, "GET /v1/jobs/"+id+"/plan on publisher answered 404: no plan")
}
