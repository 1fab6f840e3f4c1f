package service

import (
	"encoding/json"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
)

// A scheduler that does not answer stops job starts (the workflow engine
// keeps its start reminders there): a submission must fail within
// WORKFLOW_CALL_TIMEOUT instead of hanging, the job must stay listed,
// readiness must say why, and once the scheduler answers, the client's
// retry with the same idempotency key starts that job, not a second one.
func TestStuckSchedulerBoundsSubmissionAndReadiness(t *testing.T) {
	t.Parallel()
	s := newStack(t, Config{SourceConcurrency: 2, EngineCallTimeout: 3 * time.Second})
	require.Equal(t, job.Succeeded, s.waitEnd(s.submit(specFor("warm", "default/postgres/warm", "30s", "ok_a")), 60*time.Second).State)
	require.Equal(t, http.StatusOK, s.do(http.MethodGet, "/readyz", "").Status)

	sched := s.control["scheduler"].pid
	require.NoError(t, syscall.Kill(sched, syscall.SIGSTOP))
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			require.NoError(t, syscall.Kill(sched, syscall.SIGCONT))
		}
	}
	t.Cleanup(resume)

	spec := specFor("stuck", "default/postgres/stuck", "30s", "ok_a")
	start := time.Now()
	a := s.do(http.MethodPost, "/v1/jobs", spec, "Idempotency-Key", "retry-key-0001")
	took := time.Since(start)
	require.Equal(t, http.StatusServiceUnavailable, a.Status, "%s", a.Body)
	require.Contains(t, string(a.Body), "did not answer within 3s")
	require.Less(t, took, 20*time.Second, "the submission is bounded")

	r := s.do(http.MethodGet, "/readyz", "")
	require.Equal(t, http.StatusServiceUnavailable, r.Status, "%s", r.Body)
	require.Contains(t, string(r.Body), "workflow_engine")

	var list job.List
	require.NoError(t, json.Unmarshal(s.do(http.MethodGet, "/v1/jobs", "").Body, &list))
	var stuck []job.Status
	for _, st := range list.Jobs {
		if st.Name == "stuck" {
			stuck = append(stuck, st)
		}
	}
	require.Len(t, stuck, 1, "the job whose start failed is listed")
	require.Equal(t, job.Pending, stuck[0].State)

	resume()
	var sub job.Submitted
	require.Eventually(t, func() bool {
		a = s.do(http.MethodPost, "/v1/jobs", spec, "Idempotency-Key", "retry-key-0001")
		return a.Status == http.StatusAccepted
	}, 60*time.Second, time.Second, "the retried submission is accepted once the scheduler answers")
	require.NoError(t, json.Unmarshal(a.Body, &sub))
	require.Equal(t, stuck[0].ID, sub.ID, "the retry starts the job the first attempt listed")
	require.Equal(t, job.Succeeded, s.waitEnd(sub.ID, 60*time.Second).State)

	require.NoError(t, json.Unmarshal(s.do(http.MethodGet, "/v1/jobs", "").Body, &list))
	n := 0
	for _, st := range list.Jobs {
		if st.Name == "stuck" {
			n++
		}
	}
	require.Equal(t, 1, n, "no second job was created")
}
