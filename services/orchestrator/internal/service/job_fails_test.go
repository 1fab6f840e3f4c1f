package service

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
)

func TestSilentPartitionIsRetriedThenFailsTheJob(t *testing.T) {
	t.Parallel()
	s := newStack(t, Config{SourceConcurrency: 2})
	start := time.Now()
	id := s.submit(specFor("silent", "default/postgres/silent", "10s", "ok_sales", "silent_hr"))

	st := s.waitEnd(id, 90*time.Second)
	elapsed := time.Since(start)
	require.Equal(t, job.Failed, st.State)
	require.Equal(t, []string{"partition p001 (database silent_hr): the extractor did not answer within 10s (gave up after 2 attempts)"}, st.Errors)
	// Two attempts of 10 s each, on the workflow's clock (which may run a
	// little behind the wall clock of the test).
	require.GreaterOrEqual(t, elapsed, 19*time.Second)
	require.Equal(t, job.Succeeded, st.Partitions[0].State)
	require.Equal(t, job.Failed, st.Partitions[1].State)
	require.Equal(t, 2, st.Partitions[1].Attempts)
	require.ElementsMatch(t, []string{"p000#1", "p001#1", "p001#2"}, s.world.requestsOf(id))
	require.Equal(t, []string{id}, s.world.cancelled(), "the publisher is told to cancel a failed job")
	require.Empty(t, s.world.finalizedJobs())
	require.Empty(t, s.slots("default/postgres/silent"))
}

func TestRetryableFailureIsRetried(t *testing.T) {
	t.Parallel()
	s := newStack(t, Config{SourceConcurrency: 2})
	id := s.submit(specFor("flaky", "default/postgres/flaky", "30s", "flaky_sales"))
	st := s.waitEnd(id, 60*time.Second)
	require.Equal(t, job.Succeeded, st.State, "errors: %v", st.Errors)
	require.Equal(t, 2, st.Partitions[0].Attempts)
	require.Equal(t, []string{"p000#1", "p000#2"}, s.world.requestsOf(id))
}
