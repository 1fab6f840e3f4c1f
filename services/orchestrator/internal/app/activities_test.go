package app

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
)

// actx is an activity context carrying a JSON input.
type actx struct {
	input []byte
	ctx   context.Context
}

func newActx(t *testing.T, in any) actx {
	b, err := json.Marshal(in)
	require.NoError(t, err)
	return actx{input: b, ctx: context.Background()}
}

func (a actx) GetInput(v any) error       { return json.Unmarshal(a.input, v) }
func (a actx) GetTaskID() int32           { return 1 }
func (a actx) GetTaskExecutionID() string { return "x" }
func (a actx) Context() context.Context   { return a.ctx }

func acquire(t *testing.T, a *Activities, jobID string) bool {
	t.Helper()
	out, err := a.AcquireSlot(newActx(t, SlotInput{JobID: jobID, Connection: "c1"}))
	require.NoError(t, err)
	return out.(SlotResult).Acquired
}

func TestAcquireSlotHonoursTheLimitAndIsIdempotent(t *testing.T) {
	slots, runs := newMemSlots(), newMemRuns()
	for _, id := range []string{"j-a", "j-b", "j-c"} {
		runs.set(id, Run{State: RunRunning})
	}
	a := NewActivities(nil, nil, nil, slots, runs, 2, nil, nil)
	require.True(t, acquire(t, a, "j-a"))
	require.True(t, acquire(t, a, "j-a"), "a repeated activity keeps its slot")
	require.True(t, acquire(t, a, "j-b"))
	require.False(t, acquire(t, a, "j-c"))
	require.Equal(t, []string{"j-a", "j-b"}, slots.holders("c1"))

	_, err := a.ReleaseSlot(newActx(t, SlotInput{JobID: "j-a", Connection: "c1"}))
	require.NoError(t, err)
	_, err = a.ReleaseSlot(newActx(t, SlotInput{JobID: "j-a", Connection: "c1"}))
	require.NoError(t, err, "releasing twice is harmless")
	require.True(t, acquire(t, a, "j-c"))
	require.Equal(t, []string{"j-b", "j-c"}, slots.holders("c1"))
}

func TestAcquireSlotEvictsHoldersThatEnded(t *testing.T) {
	for name, run := range map[string]Run{
		"completed":  {Found: true, State: RunCompleted},
		"failed":     {Found: true, State: RunFailed},
		"terminated": {Found: true, State: RunTerminated},
		"gone":       {},
	} {
		t.Run(name, func(t *testing.T) {
			slots, runs := newMemSlots(), newMemRuns()
			slots.put("c1", "j-dead", "j-live")
			runs.set("j-live", Run{State: RunRunning})
			if run.Found {
				runs.set("j-dead", run)
			}
			a := NewActivities(nil, nil, nil, slots, runs, 2, nil, nil)
			require.True(t, acquire(t, a, "j-new"))
			require.Equal(t, []string{"j-live", "j-new"}, slots.holders("c1"))
		})
	}
}

func TestAcquireSlotKeepsHoldersItCannotCheck(t *testing.T) {
	slots, runs := newMemSlots(), newMemRuns()
	slots.put("c1", "j-x")
	runs.inspectErr = errors.New("sidecar down")
	a := NewActivities(nil, nil, nil, slots, runs, 1, nil, nil)
	require.False(t, acquire(t, a, "j-new"))
	require.Equal(t, []string{"j-x"}, slots.holders("c1"))
}

func TestAcquireSlotRetriesALostRace(t *testing.T) {
	slots, runs := newMemSlots(), newMemRuns()
	runs.set("j-rival", Run{State: RunRunning})
	slots.beforeSave = func(c string) { slots.put(c, "j-rival") } // a rival writes between our read and write
	a := NewActivities(nil, nil, nil, slots, runs, 1, nil, nil)
	require.False(t, acquire(t, a, "j-me"), "after the race the connection is full")
	require.Equal(t, []string{"j-rival"}, slots.holders("c1"))
}

type fakePreflighter struct {
	pf  job.Preflight
	err error
}

func (f fakePreflighter) Preflight(context.Context, job.Spec) (job.Preflight, error) {
	return f.pf, f.err
}

func TestPreflightSeparatesPermanentFromTransientFailures(t *testing.T) {
	in := PreflightInput{JobID: "j-1", Spec: testSpec(1, 1, 0)}
	cases := []struct {
		name      string
		err       error
		wantErr   bool
		wantField string
	}{
		{"answer", nil, false, ""},
		{"invalid spec", errkind.New(errkind.Invalid, "source.kind unknown"), false, "source.kind unknown"},
		{"access denied", errkind.New(errkind.Unauthorized, "403 from access control"), false, "403 from access control"},
		{"extractor down", errkind.New(errkind.Transient, "connection refused"), true, ""},
		{"extractor bug", errors.New("500"), true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := NewActivities(fakePreflighter{pf: job.Preflight{OK: true, Partitions: parts("p000")}, err: tc.err}, nil, nil, nil, nil, 1, nil, nil)
			out, err := a.Preflight(newActx(t, in))
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			res := out.(PreflightResult)
			require.Equal(t, tc.wantField, res.Error)
			if tc.err == nil {
				require.True(t, res.Preflight.OK)
			}
		})
	}
}

type fakeFinalizer struct {
	f         job.Finalized
	err       error
	cancelErr error
}

func (f fakeFinalizer) Finalize(context.Context, job.FinalizeRequest) (job.Finalized, error) {
	return f.f, f.err
}
func (f fakeFinalizer) Cancel(context.Context, string) error { return f.cancelErr }

func TestFinalizeAndCancelPublisher(t *testing.T) {
	a := NewActivities(nil, nil, fakeFinalizer{err: errkind.New(errkind.Invalid, "partition p001 has no record")}, nil, nil, 1, nil, nil)
	out, err := a.Finalize(newActx(t, job.FinalizeRequest{JobID: "j-1"}))
	require.NoError(t, err)
	require.Equal(t, "partition p001 has no record", out.(FinalizeResult).Error)

	a = NewActivities(nil, nil, fakeFinalizer{err: errkind.New(errkind.Transient, "busy")}, nil, nil, 1, nil, nil)
	_, err = a.Finalize(newActx(t, job.FinalizeRequest{JobID: "j-1"}))
	require.Error(t, err, "transient failures are retried by the workflow")

	a = NewActivities(nil, nil, fakeFinalizer{cancelErr: errkind.New(errkind.NotFound, "unknown job")}, nil, nil, 1, nil, nil)
	_, err = a.CancelPublisher(newActx(t, CancelInput{JobID: "j-1"}))
	require.NoError(t, err, "a publisher that never saw the job has nothing to cancel")

	a = NewActivities(nil, nil, fakeFinalizer{cancelErr: errkind.New(errkind.Transient, "down")}, nil, nil, 1, nil, nil)
	_, err = a.CancelPublisher(newActx(t, CancelInput{JobID: "j-1"}))
	require.Error(t, err)
}

func TestRaiseAlarmSkipsFinishedJobs(t *testing.T) {
	runs := newMemRuns()
	runs.set("j-live", Run{State: RunRunning})
	runs.set("j-done", Run{State: RunCompleted})
	a := NewActivities(nil, nil, nil, nil, runs, 1, nil, nil)
	for _, id := range []string{"j-live", "j-done", "j-gone"} {
		_, err := a.RaiseAlarm(newActx(t, AlarmInput{JobID: id, Alarm: Alarm{Partition: "p000", Attempt: 1, At: t0}}))
		require.NoError(t, err)
	}
	evs := runs.events("j-live")
	require.Len(t, evs, 1)
	require.Equal(t, EventDeadline, evs[0].Type)
	var a0 Alarm
	require.NoError(t, json.Unmarshal(evs[0].Payload, &a0))
	require.Equal(t, Alarm{Partition: "p000", Attempt: 1, At: t0}, a0)
	require.Empty(t, runs.events("j-done"))
	require.Empty(t, runs.events("j-gone"))
}
