package service_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
)

// A cancelled job gets no manifest and nothing more uploaded: finalize
// answers 409, later events are acknowledged and ignored, and its staging
// is deleted.
func TestCancel(t *testing.T) {
	h := start(t, nil)
	const id = "job-cancel"
	p0 := h.stageRun(id, "p000", "run-a", []catalog{{database: "shop", schema: "sales", tables: 2, cols: 2, tablePrefix: "a_"}})
	p1 := h.stageRun(id, "p001", "run-b", []catalog{{database: "shop", schema: "hr", tables: 2, cols: 2, tablePrefix: "b_"}})
	h.publish(job.TopicPartitionDone, partitionDone(p0))
	require.True(t, h.waitPublishDone(id, "p000", 1).OK)
	require.NotEmpty(t, h.stagedFiles(id))

	r := h.invoke("POST", "v1/jobs/"+id+"/cancel")
	require.Equal(t, 200, r.Status, string(r.Body))
	require.Empty(t, h.stagedFiles(id), "cancel deletes the job's staging")
	again := h.invoke("POST", "v1/jobs/"+id+"/cancel")
	require.Equal(t, 200, again.Status, "cancel is idempotent")

	_, err := h.finalize(job.FinalizeRequest{JobID: id, Spec: spec(), Partitions: []string{"p000"}, StartedAt: time.Now()})
	require.Equal(t, errkind.Conflict, errkind.Of(err), "%v", err)
	require.ErrorContains(t, err, "was cancelled")
	require.Equal(t, 404, h.invoke("GET", "v1/jobs/"+id+"/manifest").Status)
	require.NoFileExists(t, h.destDir+"/jobs/"+id+"/manifest.json")

	// Events that arrive after the cancel are acknowledged and change nothing.
	uploads := filesUnder(t, h.destDir+"/jobs/"+id)
	h.publish(job.TopicBatchReady, p1[0])
	h.publish(job.TopicPartitionDone, partitionDone(p1))
	h.waitMetric(1, "secure_agent_publisher_ignored_events_total", "topic", "partition-done", "reason", "job_cancelled")
	h.waitMetric(1, "secure_agent_publisher_ignored_events_total", "topic", "batch-ready", "reason", "job_cancelled")
	require.Equal(t, uploads, filesUnder(t, h.destDir+"/jobs/"+id), "nothing uploaded after cancel")
	require.Empty(t, h.publishDones(id, "p001"))
	require.Zero(t, h.metric("secure_agent_publisher_batches_total", "result", "missing"), "the batch was not even checked")

	// A finalized job cannot be cancelled.
	const done = "job-finalized"
	f := h.stageRun(done, "p000", "run-a", []catalog{{database: "shop", schema: "sales", tables: 1, cols: 1, tablePrefix: "c_"}})
	h.publish(job.TopicPartitionDone, partitionDone(f))
	require.True(t, h.waitPublishDone(done, "p000", 1).OK)
	_, err = h.finalize(job.FinalizeRequest{JobID: done, Spec: spec(), Partitions: []string{"p000"}, StartedAt: time.Now()})
	require.NoError(t, err)
	r = h.invoke("POST", "v1/jobs/"+done+"/cancel")
	require.Equal(t, 409, r.Status, string(r.Body))
	require.FileExists(t, h.destDir+"/jobs/"+done+"/manifest.json")
}
