package service_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
)

// Events that do not decode, or name objects outside their run, are
// dropped to the dead-letter topic and counted; nothing is read for them.
func TestInvalidEventsAreDropped(t *testing.T) {
	h := start(t, nil)
	staged := h.stageRun("job-invalid", "p000", "run-a", []catalog{{database: "shop", schema: "sales", tables: 1, cols: 1, tablePrefix: "t_"}})

	h.publishRaw(job.TopicPartitionDone, []byte(`{"job_id": 42, "ok": "yes"}`))
	h.waitMetric(1, "secure_agent_publisher_invalid_events_total", "topic", "partition-done")

	escape := staged[0]
	escape.Key = "jobs/another-job/p000/run-a/database-000000.arrows"
	h.publish(job.TopicBatchReady, escape)
	h.waitMetric(1, "secure_agent_publisher_invalid_events_total", "topic", "batch-ready")

	traversal := partitionDone(staged)
	traversal.Partition = "../p000"
	h.publish(job.TopicPartitionDone, traversal)
	h.waitMetric(2, "secure_agent_publisher_invalid_events_total", "topic", "partition-done")

	h.eventually("the dropped events reach the dead-letter topic", func() bool { return len(h.deadLetters()) == 3 })
	require.Equal(t, 2.0, h.metric("secure_agent_publisher_invalid_events_total", "topic", "partition-done"))
	require.Zero(t, h.metric("secure_agent_publisher_batches_total", "result", "verified"))
	require.Empty(t, h.publishDones("job-invalid", "p000"))
	require.Empty(t, filesUnder(t, h.destDir))
}
