package service_test

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// With a small COMPACT_TARGET_BYTES each kind spreads over several upload
// files, numbered in order, that together hold every row exactly once.
func TestSmallCompactTargetRotatesFiles(t *testing.T) {
	h := start(t, map[string]string{"COMPACT_TARGET_BYTES": "4096"})
	const id = "job-rotate"
	staged := h.stageRun(id, "p000", "run-a", []catalog{
		{database: "shop", schema: "sales", tables: 20, cols: 30, tablePrefix: "a_"},
		{database: "shop", schema: "sales", tables: 20, cols: 30, tablePrefix: "b_"},
		{database: "shop", schema: "sales", tables: 20, cols: 30, tablePrefix: "c_"},
	})
	h.publish(job.TopicPartitionDone, partitionDone(staged))
	done := h.waitPublishDone(id, "p000", 1)
	require.True(t, done.OK, done.Error)
	require.Equal(t, totalRows(staged), done.Rows)

	perKind := map[model.Kind][]string{}
	stagedQNs := map[string]int{}
	var uploadedQNs []string
	for _, f := range done.Files {
		perKind[f.Kind] = append(perKind[f.Kind], f.Name)
		sum, rows, qns := readUpload(t, filepath.Join(h.destDir, "jobs", id, f.Name))
		require.Equal(t, f.SHA256, sum)
		require.Equal(t, f.Rows, rows)
		uploadedQNs = append(uploadedQNs, qns...)
	}
	for _, kind := range []model.Kind{model.KindTable, model.KindColumn} {
		names := perKind[kind]
		require.Greater(t, len(names), 1, "%s spread over several files", kind)
		for n, name := range names {
			require.Equal(t, job.UploadName("p000", kind, n), name)
		}
	}
	for _, qn := range uploadedQNs {
		stagedQNs[qn]++
	}
	require.Len(t, uploadedQNs, int(sum(totalRows(staged))))
	for qn, n := range stagedQNs {
		require.Equal(t, 1, n, "%s uploaded %d times", qn, n)
	}
	require.Contains(t, stagedQNs, model.Names{Connection: conn, Database: "shop", Schema: "sales", Table: "c_0019"}.ChildQN("column_029"))

	_, err := h.finalize(job.FinalizeRequest{JobID: id, Spec: spec(), Partitions: []string{"p000"}, StartedAt: time.Now()})
	require.NoError(t, err)
	require.NoError(t, model.VerifyDir(filepath.Join(h.destDir, "jobs", id)))
	require.True(t, slices.Contains(filesUnder(t, filepath.Join(h.destDir, "jobs", id)), "manifest.json"))
}

func sum(rows map[model.Kind]int64) int64 {
	var n int64
	for _, v := range rows {
		n += v
	}
	return n
}
