package service

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
)

func extracting(st job.Status) bool {
	return st.Phase == "extract" && len(st.Partitions) > 0 && st.Partitions[0].State == job.Extracting
}

func TestSourceConcurrencyQueuesTheThirdJob(t *testing.T) {
	t.Parallel()
	const conn = "default/postgres/busy"
	s := newStack(t, Config{SourceConcurrency: 2, SlotRetry: 500 * time.Millisecond})
	first := s.submit(specFor("first", conn, "5m", "hold_1"))
	s.waitFor(first, "extracting", 60*time.Second, extracting)
	second := s.submit(specFor("second", conn, "5m", "hold_2"))
	s.waitFor(second, "extracting", 60*time.Second, extracting)
	third := s.submit(specFor("third", conn, "5m", "hold_3"))
	s.waitFor(third, "queued", 60*time.Second, func(st job.Status) bool { return st.Phase == "queued" })

	// While both slots are taken the third job keeps asking and keeps waiting.
	other := s.submit(specFor("elsewhere", "default/postgres/other", "5m", "ok_x"))
	require.Equal(t, job.Succeeded, s.waitEnd(other, 60*time.Second).State, "another connection is not limited")
	st := s.status(third)
	require.Equal(t, job.Running, st.State)
	require.Equal(t, "queued", st.Phase)
	require.Empty(t, s.world.requestsOf(third))
	require.ElementsMatch(t, []string{first, second}, s.slots(conn))

	s.world.release("hold_1")
	require.Equal(t, job.Succeeded, s.waitEnd(first, 60*time.Second).State)
	s.waitFor(third, "extracting after the first job ended", 60*time.Second, extracting)
	require.ElementsMatch(t, []string{second, third}, s.slots(conn))

	s.world.release("hold_2")
	s.world.release("hold_3")
	require.Equal(t, job.Succeeded, s.waitEnd(second, 60*time.Second).State)
	require.Equal(t, job.Succeeded, s.waitEnd(third, 60*time.Second).State)
	require.Empty(t, s.slots(conn))
}
