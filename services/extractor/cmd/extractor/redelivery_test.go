package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
)

// A request delivered again after its run finished is answered from the
// record: the same run, its files announced again, nothing new staged.
func TestRedeliveredRequestReplaysTheRun(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	req := job.ExtractRequest{
		JobID: uniqueID(t, "job-redeliver-"), Partition: job.Partition{ID: "p000"}, Attempt: 1,
		Spec: job.Spec{Version: 1, Connection: "default/sqlite/1700000000",
			Source: job.Source{Kind: "sqlite", DSN: sqliteFile(t)}},
		ExtractedAt: time.Now().UTC(),
	}
	s.request(t, req)
	first := s.waitDone(t, req.JobID, "p000", 1)
	require.True(t, first.OK, first.Error)
	staged := s.stagedFiles(t)
	announced := s.events.batchReadies(t, req.JobID, "p000")
	require.Len(t, announced, len(first.Files))

	s.request(t, req) // the same message again
	second := s.waitDone(t, req.JobID, "p000", 2)
	require.Equal(t, first, second, "the same run is announced, with the same files and counts")
	require.Equal(t, staged, s.stagedFiles(t), "nothing new is staged")

	// BatchReady events are sent again for the same files. The re-sent
	// PartitionDone comes after them, but the broker does not order topics:
	// wait for them.
	deadline := time.Now().Add(30 * time.Second)
	for len(s.events.batchReadies(t, req.JobID, "p000")) < 2*len(announced) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	again := s.events.batchReadies(t, req.JobID, "p000")
	require.Len(t, again, 2*len(announced))
	require.ElementsMatch(t, append(announced, announced...), again)
	s.requireMetric(t, "secure_agent_extractor_requests_total", `result="extracted"`, float64(1))
	s.requireMetric(t, "secure_agent_extractor_requests_total", `result="replayed"`, float64(1))

	// A later attempt answered from the record carries that attempt.
	req.Attempt = 2
	s.request(t, req)
	third := s.waitDone(t, req.JobID, "p000", 3)
	require.Equal(t, 2, third.Attempt)
	require.Equal(t, first.Run, third.Run)
	require.Equal(t, staged, s.stagedFiles(t))
}
