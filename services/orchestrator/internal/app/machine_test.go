package app

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func testSpec(maxParallel, retries int, timeout time.Duration) job.Spec {
	s := job.Spec{Version: 1, Name: "nightly", Connection: "default/postgres/1", Source: job.Source{Kind: "postgres", DSN: "postgres://u@h/db"},
		Partitioning: job.Partitioning{MaxParallel: maxParallel, Retries: retries, Timeout: job.Duration(timeout)}}
	s.Normalize()
	return s
}

func parts(ids ...string) []job.Partition {
	var out []job.Partition
	for _, id := range ids {
		out = append(out, job.Partition{ID: id, Database: "db_" + id})
	}
	return out
}

// planned is a machine past preflight with the given partitions.
func planned(t *testing.T, spec job.Spec, ids ...string) *Machine {
	t.Helper()
	m := NewMachine(WorkflowInput{JobID: "j-1", Spec: spec, SubmittedAt: t0.Add(-time.Second)}, t0)
	require.True(t, m.Planned(job.Preflight{OK: true, Partitions: parts(ids...)}))
	m.SetPhase(PhaseExtract)
	return m
}

func mustEvent(t *testing.T) func(Event, error) Event {
	return func(ev Event, err error) Event {
		t.Helper()
		require.NoError(t, err)
		return ev
	}
}

func pdone(t *testing.T, p string, attempt int, ok, retryable bool, errText string, rows map[model.Kind]int64) Event {
	return mustEvent(t)(PartitionDoneEvent(job.PartitionDone{JobID: "j-1", Partition: p, Attempt: attempt, Run: "r",
		OK: ok, Retryable: retryable, Error: errText, Rows: rows, Queries: 3,
		Files: []job.BatchReady{{Key: "jobs/j-1/x"}}}))
}

func pubdone(t *testing.T, p string, ok bool, errText string, rows map[model.Kind]int64) Event {
	return mustEvent(t)(PublishDoneEvent(job.PublishDone{JobID: "j-1", Partition: p, Run: "r", OK: ok, Error: errText, Rows: rows}))
}

func deadlineFor(t *testing.T, a Alarm) Event { return mustEvent(t)(DeadlineEvent(a)) }

func partState(m *Machine, id string) job.PartitionStatus {
	for _, p := range m.Status().Partitions {
		if p.ID == id {
			return p
		}
	}
	return job.PartitionStatus{}
}

func TestPlannedFailedChecksFailTheJobWithTheirRemediation(t *testing.T) {
	m := NewMachine(WorkflowInput{JobID: "j-1", Spec: testSpec(2, 1, time.Minute)}, t0)
	ok := m.Planned(job.Preflight{OK: false, Checks: []job.Check{
		{Name: "connect", Status: "pass", Detail: "connected"},
		{Name: "privileges", Status: "fail", Detail: "cannot read pg_catalog", Remediation: "GRANT pg_read_all_stats TO agent"},
		{Name: "tls", Status: "warn", Detail: "no TLS"},
	}})
	require.False(t, ok)
	require.True(t, m.Ending())
	require.Equal(t, job.Failed, m.Outcome())
	require.Equal(t, []string{"preflight check privileges failed: cannot read pg_catalog — GRANT pg_read_all_stats TO agent"}, m.Status().Errors)
	m.Finish(t0)
	require.Equal(t, job.Failed, m.Status().State)
}

func TestPlannedRejectsBrokenPlans(t *testing.T) {
	for name, pf := range map[string]job.Preflight{
		"duplicate id": {OK: true, Partitions: []job.Partition{{ID: "p000"}, {ID: "p000"}}},
		"empty id":     {OK: true, Partitions: []job.Partition{{ID: ""}}},
		"no reason":    {OK: false},
	} {
		t.Run(name, func(t *testing.T) {
			m := NewMachine(WorkflowInput{JobID: "j-1", Spec: testSpec(2, 1, time.Minute)}, t0)
			require.False(t, m.Planned(pf))
			require.Equal(t, job.Failed, m.Outcome())
			require.Len(t, m.Status().Errors, 1)
		})
	}
}

func TestLaunchKeepsMaxParallelInPlanOrderAndArmsDeadlines(t *testing.T) {
	m := planned(t, testSpec(2, 1, time.Minute), "p000", "p001", "p002")
	got := m.Launch(t0)
	require.Equal(t, []Launch{{Partition: parts("p000")[0], Attempt: 1}, {Partition: parts("p001")[0], Attempt: 1}}, got)
	require.Equal(t, []Alarm{
		{Partition: "p000", Attempt: 1, At: t0.Add(time.Minute)},
		{Partition: "p001", Attempt: 1, At: t0.Add(time.Minute)},
	}, m.TakeAlarms())
	require.Empty(t, m.TakeAlarms(), "alarms are handed out once")
	require.Empty(t, m.Launch(t0), "both slots of max_parallel are taken")

	// An extracted partition no longer counts against max_parallel.
	require.Equal(t, Progressed, m.Handle(pdone(t, "p000", 1, true, false, "", nil), t0.Add(time.Second)))
	require.Equal(t, []Launch{{Partition: parts("p002")[0], Attempt: 1}}, m.Launch(t0.Add(time.Second)))
}

func TestHappyPathCountsRowsAndFinalizes(t *testing.T) {
	m := planned(t, testSpec(4, 1, time.Minute), "p000", "p001")
	require.Len(t, m.Launch(t0), 2)
	require.False(t, m.Done())

	require.Equal(t, Progressed, m.Handle(pdone(t, "p000", 1, true, false, "", map[model.Kind]int64{model.KindTable: 3, model.KindColumn: 10}), t0.Add(time.Second)))
	require.Equal(t, job.Extracted, partState(m, "p000").State)
	require.Equal(t, int64(13), m.Status().Assets, "extracted rows count before publishing")

	require.Equal(t, Progressed, m.Handle(pubdone(t, "p000", true, "", map[model.Kind]int64{model.KindTable: 3, model.KindColumn: 10}), t0.Add(2*time.Second)))
	require.Equal(t, Progressed, m.Handle(pdone(t, "p001", 1, true, false, "", map[model.Kind]int64{model.KindTable: 1}), t0.Add(3*time.Second)))
	require.False(t, m.Done())
	require.Equal(t, Progressed, m.Handle(pubdone(t, "p001", true, "", nil), t0.Add(4*time.Second)))
	require.True(t, m.Done())
	require.True(t, m.AllSucceeded())

	req := m.FinalizeRequest()
	require.Equal(t, []string{"p000", "p001"}, req.Partitions)
	require.Equal(t, 6, req.Queries)
	require.Equal(t, t0, req.StartedAt)
	require.Equal(t, "j-1", req.JobID)

	m.Finalized(job.Finalized{Manifests: []job.ManifestRef{{Binding: "destination", Key: "jobs/j-1/manifest.json", Files: 3}}})
	m.Finish(t0.Add(5 * time.Second))
	st := m.Status()
	require.Equal(t, job.Succeeded, st.State)
	require.Equal(t, "", st.Phase)
	require.Equal(t, map[model.Kind]int64{model.KindTable: 4, model.KindColumn: 10}, st.Rows)
	require.Equal(t, int64(14), st.Assets)
	require.Equal(t, "jobs/j-1/manifest.json", st.Manifest.Key)
	require.Equal(t, t0.Add(5*time.Second), *st.FinishedAt)
	require.Equal(t, t0, *st.StartedAt)
	for _, p := range st.Partitions {
		require.Equal(t, job.Succeeded, p.State)
		require.Equal(t, 1, p.Attempts)
	}
	require.Empty(t, st.Errors)
}

func TestFinalizedRowsAreAuthoritative(t *testing.T) {
	m := planned(t, testSpec(4, 1, time.Minute), "p000")
	m.Launch(t0)
	m.Handle(pubdone(t, "p000", true, "", map[model.Kind]int64{model.KindTable: 3}), t0)
	m.Finalized(job.Finalized{Rows: map[model.Kind]int64{model.KindTable: 5}})
	require.Equal(t, int64(5), m.Status().Assets)
}

func TestZeroPartitionsFinalizeAtOnce(t *testing.T) {
	m := planned(t, testSpec(4, 1, time.Minute))
	require.True(t, m.AllSucceeded())
	require.Empty(t, m.Launch(t0))
	require.Equal(t, []string{}, m.FinalizeRequest().Partitions)
}

func TestStaleAndUnknownEventsAreIgnored(t *testing.T) {
	spec := testSpec(2, 2, time.Minute) // p002 stays unrequested
	cases := []struct {
		name  string
		setup func(t *testing.T, m *Machine)
		ev    func(t *testing.T) Event
	}{
		{"unknown partition", nil, func(t *testing.T) Event { return pdone(t, "p999", 1, true, false, "", nil) }},
		{"older attempt", func(t *testing.T, m *Machine) {
			require.Equal(t, Retried, m.Handle(pdone(t, "p000", 1, false, true, "connection reset", nil), t0))
			m.Launch(t0)
		}, func(t *testing.T) Event { return pdone(t, "p000", 1, true, false, "", nil) }},
		{"future attempt", nil, func(t *testing.T) Event { return pdone(t, "p000", 2, true, false, "", nil) }},
		{"duplicate partition-done", func(t *testing.T, m *Machine) {
			require.Equal(t, Progressed, m.Handle(pdone(t, "p000", 1, true, false, "", nil), t0))
		}, func(t *testing.T) Event { return pdone(t, "p000", 1, true, false, "", nil) }},
		{"partition-done of a retry not yet launched", func(t *testing.T, m *Machine) {
			require.Equal(t, Retried, m.Handle(pdone(t, "p000", 1, false, true, "reset", nil), t0))
		}, func(t *testing.T) Event { return pdone(t, "p000", 1, true, false, "", nil) }},
		{"duplicate publish-done", func(t *testing.T, m *Machine) {
			require.Equal(t, Progressed, m.Handle(pubdone(t, "p000", true, "", nil), t0))
		}, func(t *testing.T) Event { return pubdone(t, "p000", false, "late failure of another run", nil) }},
		{"publish-done of a partition never requested", nil, func(t *testing.T) Event { return pubdone(t, "p002", true, "", nil) }},
		{"stale deadline time", nil, func(t *testing.T) Event {
			return deadlineFor(t, Alarm{Partition: "p000", Attempt: 1, At: t0.Add(time.Second)})
		}},
		{"deadline of an older attempt", func(t *testing.T, m *Machine) {
			require.Equal(t, Retried, m.Handle(pdone(t, "p000", 1, false, true, "reset", nil), t0))
			m.Launch(t0.Add(time.Second))
		}, func(t *testing.T) Event {
			return deadlineFor(t, Alarm{Partition: "p000", Attempt: 1, At: t0.Add(time.Minute)})
		}},
		{"deadline of the extraction after it was extracted", func(t *testing.T, m *Machine) {
			require.Equal(t, Progressed, m.Handle(pdone(t, "p000", 1, true, false, "", nil), t0.Add(time.Second)))
		}, func(t *testing.T) Event {
			return deadlineFor(t, Alarm{Partition: "p000", Attempt: 1, At: t0.Add(time.Minute)})
		}},
		{"deadline of a published partition", func(t *testing.T, m *Machine) {
			require.Equal(t, Progressed, m.Handle(pubdone(t, "p000", true, "", nil), t0))
		}, func(t *testing.T) Event {
			return deadlineFor(t, Alarm{Partition: "p000", Attempt: 1, At: t0.Add(time.Minute)})
		}},
		{"undecodable payload", nil, func(t *testing.T) Event { return Event{Type: EventPartitionDone, Payload: json.RawMessage(`[1]`)} }},
		{"unknown type", nil, func(t *testing.T) Event { return Event{Type: "resize"} }},
		{"any event after the job failed", func(t *testing.T, m *Machine) {
			require.Equal(t, Ended, m.Handle(pdone(t, "p001", 1, false, false, "boom", nil), t0))
		}, func(t *testing.T) Event { return pdone(t, "p000", 1, true, false, "", nil) }},
		{"cancel after the job failed", func(t *testing.T, m *Machine) {
			require.Equal(t, Ended, m.Handle(pdone(t, "p001", 1, false, false, "boom", nil), t0))
		}, func(t *testing.T) Event { return CancelEvent() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := planned(t, spec, "p000", "p001", "p002")
			m.Launch(t0)
			if tc.setup != nil {
				tc.setup(t, m)
			}
			before := m.StatusJSON()
			outcome := m.Outcome()
			require.Equal(t, Ignored, m.Handle(tc.ev(t), t0.Add(time.Minute)))
			require.Equal(t, before, m.StatusJSON(), "an ignored event changes nothing")
			require.Equal(t, outcome, m.Outcome())
		})
	}
}

func TestRetryableFailuresRetryThenFailWithTheError(t *testing.T) {
	m := planned(t, testSpec(4, 2, time.Minute), "p000", "p001")
	m.Launch(t0)
	for attempt := 1; attempt <= 2; attempt++ {
		require.Equal(t, Retried, m.Handle(pdone(t, "p001", attempt, false, true, "connection reset", nil), t0))
		p := partState(m, "p001")
		require.Equal(t, job.Pending, p.State)
		require.Contains(t, p.Error, "connection reset; retrying")
		l := m.Launch(t0)
		require.Equal(t, []Launch{{Partition: parts("p001")[0], Attempt: attempt + 1}}, l)
	}
	require.Equal(t, Ended, m.Handle(pdone(t, "p001", 3, false, true, "connection reset", nil), t0))
	require.Equal(t, job.Failed, m.Outcome())
	require.Equal(t, []string{"partition p001 (database db_p001): connection reset (gave up after 3 attempts)"}, m.Status().Errors)
	require.True(t, m.Done())
	require.False(t, m.AllSucceeded())
	m.Finish(t0)
	st := m.Status()
	require.Equal(t, job.Failed, st.State)
	require.Equal(t, job.Cancelled, partState(m, "p000").State, "open partitions end cancelled")
	require.Equal(t, job.Failed, partState(m, "p001").State)
	require.Equal(t, 3, partState(m, "p001").Attempts)
}

func TestPermanentFailureFailsTheJobAtOnce(t *testing.T) {
	m := planned(t, testSpec(4, 2, time.Minute), "p000", "p001")
	m.Launch(t0)
	require.Equal(t, Ended, m.Handle(pdone(t, "p001", 1, false, false, "permission denied for schema sales", nil), t0))
	require.Equal(t, []string{"partition p001 (database db_p001): permission denied for schema sales"}, m.Status().Errors)
	require.Empty(t, m.Launch(t0), "nothing more is requested once the job fails")
}

func TestPublishFailureFailsTheJob(t *testing.T) {
	m := planned(t, testSpec(4, 2, time.Minute), "p000")
	m.Launch(t0)
	require.Equal(t, Ended, m.Handle(pubdone(t, "p000", false, "sha256 mismatch of jobs/j-1/p000/r/table-000000.arrows", nil), t0))
	require.Equal(t, []string{"partition p000 (database db_p000): publishing failed: sha256 mismatch of jobs/j-1/p000/r/table-000000.arrows"}, m.Status().Errors)
}

func TestDeadlinesRetryThenFail(t *testing.T) {
	m := planned(t, testSpec(4, 1, 10*time.Second), "p000", "p001")
	m.Launch(t0)
	alarms := m.TakeAlarms()
	require.Len(t, alarms, 2)

	// p000 extracted: its deadline moves; the old alarm is stale.
	require.Equal(t, Progressed, m.Handle(pdone(t, "p000", 1, true, false, "", nil), t0.Add(5*time.Second)))
	extracted := m.TakeAlarms()
	require.Equal(t, []Alarm{{Partition: "p000", Attempt: 1, At: t0.Add(15 * time.Second)}}, extracted)
	require.Equal(t, Ignored, m.Handle(deadlineFor(t, alarms[0]), t0.Add(10*time.Second)))

	// p001 never answers: retried once, then the job fails.
	require.Equal(t, Retried, m.Handle(deadlineFor(t, alarms[1]), t0.Add(10*time.Second)))
	require.Contains(t, partState(m, "p001").Error, "attempt 1: the extractor did not answer within 10s; retrying")
	require.Equal(t, []Launch{{Partition: parts("p001")[0], Attempt: 2}}, m.Launch(t0.Add(10*time.Second)))
	second := m.TakeAlarms()
	require.Equal(t, []Alarm{{Partition: "p001", Attempt: 2, At: t0.Add(20 * time.Second)}}, second)
	require.Equal(t, Ended, m.Handle(deadlineFor(t, second[0]), t0.Add(20*time.Second)))
	require.Equal(t, []string{"partition p001 (database db_p001): the extractor did not answer within 10s (gave up after 2 attempts)"}, m.Status().Errors)
}

func TestDeadlineOfAnExtractedPartitionBlamesThePublisher(t *testing.T) {
	m := planned(t, testSpec(4, 1, 10*time.Second), "p000")
	m.Launch(t0)
	m.Handle(pdone(t, "p000", 1, true, false, "", nil), t0.Add(time.Second))
	a := m.TakeAlarms()[1]
	require.Equal(t, Retried, m.Handle(deadlineFor(t, a), a.At))
	require.Contains(t, partState(m, "p000").Error, "the publisher did not answer within 10s of the extraction")
	require.Nil(t, partState(m, "p000").Rows, "a retried partition's rows are not counted")
}

func TestEarlierRunPublishedWhileARetryIsQueued(t *testing.T) {
	m := planned(t, testSpec(4, 2, time.Minute), "p000")
	m.Launch(t0)
	require.Equal(t, Retried, m.Handle(deadlineFor(t, m.TakeAlarms()[0]), t0.Add(time.Minute)))
	// The first run's publish completes after all: the partition is done.
	require.Equal(t, Progressed, m.Handle(pubdone(t, "p000", true, "", map[model.Kind]int64{model.KindDatabase: 1}), t0.Add(time.Minute)))
	require.True(t, m.AllSucceeded())
	require.Empty(t, m.Launch(t0.Add(time.Minute)))
}

func TestCancelEndsTheJobCancelled(t *testing.T) {
	m := planned(t, testSpec(4, 2, time.Minute), "p000", "p001")
	m.Launch(t0)
	require.Equal(t, Ended, m.Handle(CancelEvent(), t0))
	require.Equal(t, Ignored, m.Handle(CancelEvent(), t0))
	require.True(t, m.Done())
	require.Empty(t, m.Launch(t0))
	m.Finalized(job.Finalized{}) // too late to succeed
	m.Finish(t0.Add(time.Second))
	st := m.Status()
	require.Equal(t, job.Cancelled, st.State)
	require.Empty(t, st.Errors)
	for _, p := range st.Partitions {
		require.Equal(t, job.Cancelled, p.State)
	}
}

// Replaying the same inputs must rebuild the same status text: the engine
// compares nothing, but the custom status and output must not flap.
func TestMachineIsDeterministic(t *testing.T) {
	run := func() string {
		m := planned(t, testSpec(2, 1, time.Minute), "p000", "p001", "p002")
		m.Launch(t0)
		m.Handle(pdone(t, "p000", 1, true, false, "", map[model.Kind]int64{model.KindTable: 2, model.KindColumn: 5, model.KindSchema: 1}), t0)
		m.Handle(pdone(t, "p001", 1, false, true, "reset", nil), t0)
		m.Launch(t0)
		return m.StatusJSON()
	}
	first := run()
	for range 20 {
		require.Equal(t, first, run())
	}
}
