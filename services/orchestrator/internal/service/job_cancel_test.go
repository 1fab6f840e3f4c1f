package service

import (
	"encoding/json"

	"github.com/dapr/durabletask-go/workflow"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
)

func TestCancelStopsTheJobAndThePublisher(t *testing.T) {
	t.Parallel()
	s := newStack(t, Config{SourceConcurrency: 2})
	id := s.submit(specFor("cancel", "default/postgres/cancel", "5m", "hold_sales"))
	s.waitFor(id, "extracting", 60*time.Second, func(st job.Status) bool {
		return len(st.Partitions) == 1 && st.Partitions[0].State == job.Extracting
	})
	require.Equal(t, []string{id}, s.slots("default/postgres/cancel"))

	a := s.do(http.MethodPost, "/v1/jobs/"+id+":cancel", "")
	require.Equal(t, http.StatusAccepted, a.Status, "%s", a.Body)
	var sub job.Submitted
	require.NoError(t, json.Unmarshal(a.Body, &sub))
	require.Equal(t, job.Submitted{ID: id, State: job.Running}, sub)

	st := s.waitEnd(id, 60*time.Second)
	require.Equal(t, job.Cancelled, st.State, "errors: %v", st.Errors)
	require.Equal(t, job.Cancelled, st.Partitions[0].State)
	require.Equal(t, []string{id}, s.world.cancelled())
	require.Empty(t, s.world.finalizedJobs())
	require.Empty(t, s.slots("default/postgres/cancel"))

	// The extraction that was running finishes later: its events change nothing.
	s.world.answerNow(id)
	a = s.do(http.MethodPost, "/v1/jobs/"+id+"%3Acancel", "")
	require.Equal(t, http.StatusConflict, a.Status, "%s", a.Body)
	require.Contains(t, string(a.Body), "cancelled")
	require.Equal(t, job.Cancelled, s.status(id).State)

	require.Equal(t, http.StatusNotFound, s.do(http.MethodPost, "/v1/jobs/j-20990101-000000-000-000000:cancel", "").Status)
	require.Equal(t, http.StatusConflict, s.do(http.MethodGet, "/v1/jobs/"+id+"/manifest", "").Status, "no manifest for a cancelled job")
}

// A cancel stops an activity's retries: the job does not wait for them
// to run out.
func TestCancelStopsRetries(t *testing.T) {
	t.Parallel()
	s := newStack(t, Config{SourceConcurrency: 2, ActivityRetry: workflow.RetryPolicy{
		MaxAttempts: 50, InitialRetryInterval: 2 * time.Second, BackoffCoefficient: 2, MaxRetryInterval: time.Minute}})
	id := s.submit(specFor("unreachable-extractor", "default/postgres/unreachable", "5m", "ok_a"))
	require.Eventually(t, func() bool { return s.world.preflights("unreachable-extractor") >= 1 }, 30*time.Second, 50*time.Millisecond)

	start := time.Now()
	require.Equal(t, http.StatusAccepted, s.do(http.MethodPost, "/v1/jobs/"+id+":cancel", "").Status)
	st := s.waitEnd(id, 30*time.Second)
	require.Equal(t, job.Cancelled, st.State, "errors: %v", st.Errors)
	require.Less(t, time.Since(start), 10*time.Second, "the cancel took effect at the next retry")
	require.Less(t, s.world.preflights("unreachable-extractor"), 5)
	require.Equal(t, []string{id}, s.world.cancelled())
}
