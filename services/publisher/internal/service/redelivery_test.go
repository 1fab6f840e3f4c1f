package service_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
)

// Two runs of one partition were staged (a redelivered extract request
// started a second one). The publisher uploads exactly the run its
// partition-done names; later partition-done events, redelivered or of the
// other run, only repeat the first PublishDone and write nothing.
func TestRedeliveryAndStaleRuns(t *testing.T) {
	h := start(t, nil)
	const id = "job-redeliver"
	stale := h.stageRun(id, "p000", "run-stale", []catalog{{database: "shop", schema: "sales", tables: 3, cols: 3, tablePrefix: "stale_"}})
	kept := h.stageRun(id, "p000", "run-kept", []catalog{
		{database: "shop", schema: "sales", tables: 2, cols: 5, tablePrefix: "kept_"},
		{database: "shop", schema: "sales", tables: 2, cols: 1, tablePrefix: "more_"},
	})
	for _, b := range append(stale, kept...) {
		h.publish(job.TopicBatchReady, b)
	}
	h.waitMetric(float64(len(stale)+len(kept)), "secure_agent_publisher_batches_total", "result", "verified")

	// Delivered twice at once: the partition lock lets one upload, the other
	// finds the record.
	h.publish(job.TopicPartitionDone, partitionDone(kept))
	h.publish(job.TopicPartitionDone, partitionDone(kept))
	first := h.waitPublishDone(id, "p000", 1)
	require.True(t, first.OK, first.Error)
	require.Equal(t, "run-kept", first.Run)
	require.Equal(t, totalRows(kept), first.Rows)
	second := h.waitPublishDone(id, "p000", 2)
	require.Equal(t, first, second)

	jobDir := filepath.Join(h.destDir, "jobs", id)
	files := filesUnder(t, jobDir)
	require.Len(t, files, len(first.Files))
	mtimes := map[string]time.Time{}
	for _, f := range first.Files {
		sum, rows, qns := readUpload(t, filepath.Join(jobDir, f.Name))
		require.Equal(t, f.SHA256, sum)
		require.Equal(t, f.Rows, rows)
		for _, qn := range qns {
			require.NotContains(t, qn, "stale_", "a batch of the stale run reached the upload")
		}
		st, err := os.Stat(filepath.Join(jobDir, f.Name))
		require.NoError(t, err)
		mtimes[f.Name] = st.ModTime()
	}

	// The stale run completes later: its PartitionDone only re-sends the
	// kept run's PublishDone.
	h.publish(job.TopicPartitionDone, partitionDone(stale))
	third := h.waitPublishDone(id, "p000", 3)
	require.Equal(t, first, third)
	require.Equal(t, files, filesUnder(t, jobDir), "no new upload files")
	for name, mt := range mtimes {
		st, err := os.Stat(filepath.Join(jobDir, name))
		require.NoError(t, err)
		require.Equal(t, mt, st.ModTime(), "%s was rewritten", name)
	}
	require.Equal(t, 1.0, h.metric("secure_agent_publisher_partitions_total", "result", "published"))

	out, err := h.finalize(job.FinalizeRequest{JobID: id, Spec: spec(), Partitions: []string{"p000"}, StartedAt: time.Now()})
	require.NoError(t, err)
	require.Equal(t, totalRows(kept), out.Rows)
	require.Empty(t, h.stagedFiles(id), "staging of both runs deleted")
}
