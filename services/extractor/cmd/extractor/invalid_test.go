package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
)

// Undecodable and invalid requests are dropped to the dead-letter topic and
// counted; no run starts.
func TestInvalidRequestsAreDroppedAndCounted(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	s.publish(t, job.TopicExtractRequests, []byte("not json at all"), "text/plain")
	s.publish(t, job.TopicExtractRequests, []byte(`{"job_id":"","partition":{"id":"p000"},"attempt":1,"spec":{}}`), "application/json")
	s.publish(t, job.TopicExtractRequests, []byte(`{"job_id":"j/../x","partition":{"id":"p000"},"attempt":1,`+
		`"spec":{"version":1,"connection":"c","source":{"kind":"sqlite","dsn":"/x.db"}}}`), "application/json")

	deadline := time.Now().Add(30 * time.Second)
	for len(s.events.raw(job.TopicDeadLetter)) < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	require.Len(t, s.events.raw(job.TopicDeadLetter), 3, "every invalid request reaches the dead-letter topic")
	s.requireMetric(t, "secure_agent_extractor_requests_total", `result="invalid"`, float64(3))
	s.requireMetric(t, "secure_agent_pubsub_events_total", `result="deadletter",topic="extract-requests"`, float64(3))
	require.Empty(t, s.events.raw(job.TopicPartitionDone))
	require.Empty(t, s.stagedFiles(t))
}
