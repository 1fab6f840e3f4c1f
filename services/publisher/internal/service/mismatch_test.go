package service_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
)

// A staged file that differs from its announcement fails the partition
// with a message naming the file and both checksums, and nothing of the
// partition is uploaded, not even the files that matched.
func TestShaMismatchUploadsNothing(t *testing.T) {
	h := start(t, nil)
	const id = "job-mismatch"
	staged := h.stageRun(id, "p000", "run-a", []catalog{
		{database: "shop", schema: "sales", tables: 2, cols: 2, tablePrefix: "a_"},
		{database: "shop", schema: "sales", tables: 2, cols: 2, tablePrefix: "b_"},
	})
	// The last staged file is replaced by another valid file of its kind
	// after the extractor announced it.
	bad := staged[len(staged)-1]
	other := h.stageRun("job-other", "p000", "run-x", []catalog{{database: "x", schema: "y", tables: 1, cols: 1, tablePrefix: "z_"}})
	i := slices.IndexFunc(other, func(o job.BatchReady) bool { return o.Kind == bad.Kind })
	require.GreaterOrEqual(t, i, 0)
	data, err := h.staging.Get(context.Background(), other[i].Key)
	require.NoError(t, err)
	require.NoError(t, h.staging.Put(context.Background(), bad.Key, data))
	actual := other[i].SHA256
	require.NotEqual(t, actual, bad.SHA256)

	for _, b := range staged {
		h.publish(job.TopicBatchReady, b)
	}
	h.waitMetric(1, "secure_agent_publisher_batches_total", "result", "mismatched")
	h.waitMetric(float64(len(staged)-1), "secure_agent_publisher_batches_total", "result", "verified")
	require.Equal(t, float64(len(staged)-1), h.metric("secure_agent_publisher_backlog_batches"), "only verified batches wait")

	h.publish(job.TopicPartitionDone, partitionDone(staged))
	done := h.waitPublishDone(id, "p000", 1)
	require.False(t, done.OK)
	require.Equal(t, "run-a", done.Run)
	require.Empty(t, done.Files)
	require.Contains(t, done.Error, bad.Key)
	require.Contains(t, done.Error, bad.SHA256, "names the announced sha256")
	require.Contains(t, done.Error, actual, "names the staged file's sha256")
	require.Contains(t, done.Error, "re-run the job")
	require.Empty(t, filesUnder(t, filepath.Join(h.destDir, "jobs", id)), "nothing of the partition was uploaded")
	require.Equal(t, 1.0, h.metric("secure_agent_publisher_partitions_total", "result", "failed"))
	require.Equal(t, 1.0, h.metric("secure_agent_publisher_partition_duration_seconds", "result", "failed"))
	require.Zero(t, h.metric("secure_agent_publisher_backlog_batches"), "a failed partition waits no more")
	require.Zero(t, h.metric("secure_agent_publisher_batches_published_total"))

	// The partition has no publish record, so the job cannot be finalized.
	_, err = h.finalize(job.FinalizeRequest{JobID: id, Spec: spec(), Partitions: []string{"p000"}, StartedAt: time.Now()})
	require.Error(t, err)
	require.Equal(t, errkind.Conflict, errkind.Of(err))
	require.ErrorContains(t, err, "p000")
	require.Equal(t, 404, h.invoke("GET", "v1/jobs/"+id+"/manifest").Status)
}

// A staged object missing when its batch event arrives is recorded as
// unverified; partition-done checks it again and publishes once it is there.
func TestMissingBatchIsCheckedAgain(t *testing.T) {
	h := start(t, nil)
	const id = "job-late-object"
	staged := h.stageRun(id, "p000", "run-a", []catalog{{database: "shop", schema: "sales", tables: 2, cols: 3, tablePrefix: "t_"}})
	late := staged[0]
	data, err := h.staging.Get(context.Background(), late.Key)
	require.NoError(t, err)
	require.NoError(t, h.staging.Delete(context.Background(), late.Key))
	h.publish(job.TopicBatchReady, late)
	h.waitMetric(1, "secure_agent_publisher_batches_total", "result", "missing")

	require.NoError(t, h.staging.Put(context.Background(), late.Key, data))
	h.publish(job.TopicPartitionDone, partitionDone(staged))
	done := h.waitPublishDone(id, "p000", 1)
	require.True(t, done.OK, done.Error)
	require.Equal(t, totalRows(staged), done.Rows)
	require.GreaterOrEqual(t, h.metric("secure_agent_publisher_batches_total", "result", "verified"), 1.0)

	// Finalize names the partitions that are not published.
	_, err = h.finalize(job.FinalizeRequest{JobID: id, Spec: spec(), Partitions: []string{"p000", "p007", "p009"}, StartedAt: time.Now()})
	require.Equal(t, errkind.Conflict, errkind.Of(err), "%v", err)
	require.ErrorContains(t, err, "p007, p009")
	require.NotContains(t, err.Error(), "p000")
}
