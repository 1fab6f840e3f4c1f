package service

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
)

// The app (HTTP server, subscriptions and workflow worker) stops mid-job
// and a new one starts on the same sidecar: the job resumes from the
// workflow engine and completes; nothing is submitted again.
func TestJobResumesAfterTheAppRestarts(t *testing.T) {
	t.Parallel()
	s := newStack(t, Config{SourceConcurrency: 2})
	id := s.submit(specFor("restart", "default/postgres/restart", "5m", "ok_first", "hold_second"))
	s.waitFor(id, "first partition published, second extracting", 60*time.Second, func(st job.Status) bool {
		return len(st.Partitions) == 2 && st.Partitions[0].State == job.Succeeded && st.Partitions[1].State == job.Extracting
	})

	s.restart()
	require.Equal(t, job.Running, s.status(id).State, "the new app reads the running job from the engine")
	s.world.release("hold_second")

	st := s.waitEnd(id, 60*time.Second)
	require.Equal(t, job.Succeeded, st.State, "errors: %v", st.Errors)
	require.Equal(t, int64(56), st.Assets)
	require.ElementsMatch(t, []string{"p000#1", "p001#1"}, s.world.requestsOf(id), "no request was repeated")
	require.Len(t, s.world.finalizedJobs(), 1)
	require.Empty(t, s.slots("default/postgres/restart"))

	a := s.do(http.MethodGet, "/v1/jobs", "")
	require.Equal(t, http.StatusOK, a.Status)
	var list job.List
	require.NoError(t, json.Unmarshal(a.Body, &list))
	require.Len(t, list.Jobs, 1, "nothing was resubmitted")
}

// The app stops while an activity runs (the preflight hangs): the engine
// gives the activity to the next worker and the job completes.
func TestActivityInterruptedByARestartRunsAgain(t *testing.T) {
	t.Parallel()
	s := newStack(t, Config{SourceConcurrency: 2})
	id := s.submit(specFor("hold-preflight", "default/postgres/interrupted", "5m", "ok_one"))
	require.Eventually(t, func() bool { return s.world.preflights("hold-preflight") == 1 }, 30*time.Second, 50*time.Millisecond)

	s.restart()
	s.world.release("preflight")
	st := s.waitEnd(id, 90*time.Second)
	require.Equal(t, job.Succeeded, st.State, "errors: %v", st.Errors)
	require.GreaterOrEqual(t, s.world.preflights("hold-preflight"), 2, "the interrupted preflight ran again")
}
