package service_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// A job of two partitions published to two destinations: each batch is
// verified once, each partition compacted into one file per kind, uploaded
// everywhere with the announced rows, then finalize writes a manifest that
// model.VerifyDir accepts and cleans the staging.
func TestPublishAndFinalize(t *testing.T) {
	h := start(t, nil)
	const id = "job-happy"
	dests := []job.Destination{{Binding: "destination"}, {Binding: "mirror", Prefix: "exports/acme"}}

	p0 := h.stageRun(id, "p000", "run-a", []catalog{
		{database: "shop", schema: "sales", tables: 5, cols: 7, tablePrefix: "orders_"},
		{database: "shop", schema: "sales", tables: 3, cols: 4, tablePrefix: "items_"},
	})
	p1 := h.stageRun(id, "p001", "run-b", []catalog{{database: "crm", schema: "public", tables: 4, cols: 2, tablePrefix: "leads_"}})
	for _, b := range append(slices.Clone(p0), p1...) {
		h.publish(job.TopicBatchReady, b)
	}
	batches := float64(len(p0) + len(p1))
	h.waitMetric(batches, "secure_agent_publisher_batches_total", "result", "verified")

	h.publish(job.TopicPartitionDone, partitionDone(p0, dests...))
	h.publish(job.TopicPartitionDone, partitionDone(p1, dests...))
	for _, tc := range []struct {
		partition, run string
		staged         []job.BatchReady
	}{{"p000", "run-a", p0}, {"p001", "run-b", p1}} {
		done := h.waitPublishDone(id, tc.partition, 1)
		require.True(t, done.OK, done.Error)
		require.Equal(t, tc.run, done.Run)
		require.Equal(t, totalRows(tc.staged), done.Rows)
		var kinds []model.Kind
		for _, f := range done.Files {
			kinds = append(kinds, f.Kind)
			require.Equal(t, job.UploadName(tc.partition, f.Kind, 0), f.Name, "one file per kind at the default target")
			for _, dir := range []string{filepath.Join(h.destDir, "jobs", id), filepath.Join(h.mirrorDir, "exports/acme", id)} {
				sum, rows, _ := readUpload(t, filepath.Join(dir, f.Name))
				require.Equal(t, f.SHA256, sum, f.Name)
				require.Equal(t, f.Rows, rows, f.Name)
			}
		}
		require.True(t, slices.IsSortedFunc(kinds, func(a, b model.Kind) int { return slices.Index(model.Kinds, a) - slices.Index(model.Kinds, b) }),
			"files in model kind order: %v", kinds)
	}
	require.Equal(t, batches, h.metric("secure_agent_publisher_batches_total", "result", "verified"),
		"partition-done reuses the checks made when the batches arrived")
	require.Equal(t, 2.0, h.metric("secure_agent_publisher_partitions_total", "result", "published"))

	notYet := h.invoke("GET", "v1/jobs/"+id+"/manifest")
	require.Equal(t, 404, notYet.Status, string(notYet.Body))

	started := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	req := job.FinalizeRequest{JobID: id, Spec: spec(dests...), Partitions: []string{"p000", "p001"}, StartedAt: started, Queries: 22}
	out, err := h.finalize(req)
	require.NoError(t, err)
	want := totalRows(append(slices.Clone(p0), p1...))
	require.Equal(t, want, out.Rows)
	require.Len(t, out.Manifests, 2)
	require.Equal(t, job.ManifestRef{Binding: "destination", Key: "jobs/" + id + "/manifest.json", Files: out.Manifests[0].Files, Bytes: out.Manifests[0].Bytes, SHA256: out.Manifests[0].SHA256}, out.Manifests[0])
	require.Equal(t, "mirror", out.Manifests[1].Binding)
	require.Equal(t, "exports/acme/"+id+"/manifest.json", out.Manifests[1].Key)

	for _, dir := range []string{filepath.Join(h.destDir, "jobs", id), filepath.Join(h.mirrorDir, "exports/acme", id)} {
		require.NoError(t, model.VerifyDir(dir))
	}
	data, err := os.ReadFile(filepath.Join(h.destDir, "jobs", id, model.ManifestFile))
	require.NoError(t, err)
	require.EqualValues(t, len(data), out.Manifests[0].Bytes)
	manifestSum := sha256.Sum256(data)
	require.Equal(t, hex.EncodeToString(manifestSum[:]), out.Manifests[0].SHA256)
	require.NotContains(t, string(data), "db.internal", "the manifest never carries the DSN")
	m, err := model.ReadManifest(filepath.Join(h.destDir, "jobs", id))
	require.NoError(t, err)
	require.Equal(t, id, m.JobID)
	require.Equal(t, model.ManifestSource{Kind: "postgres", Connection: conn, Databases: []string{"shop"}, ExcludeFields: []string{"comment"},
		MaxTextBytes: model.DefaultMaxTextBytes}, m.Source)
	require.Equal(t, started, m.StartedAt.UTC())
	require.WithinDuration(t, time.Now(), m.FinishedAt, time.Minute)
	require.Equal(t, 22, m.Queries)
	require.Equal(t, out.Manifests[0].Files, len(m.Files))
	require.True(t, slices.IsSortedFunc(m.Files, func(a, b model.FileInfo) int { return strings.Compare(a.Name, b.Name) }))
	require.Equal(t, []model.ManifestPartition{
		{ID: "p000", Database: "shop", Schemas: []string{"sales"}, Run: "run-a", Rows: totalRows(p0)},
		{ID: "p001", Database: "shop", Schemas: []string{"sales"}, Run: "run-b", Rows: totalRows(p1)},
	}, m.Partitions)
	require.Equal(t, 2.0, h.metric("secure_agent_publisher_manifests_written_total"))
	require.Empty(t, h.stagedFiles(id), "finalize deletes the job's staging")

	got := h.invoke("GET", "v1/jobs/"+id+"/manifest")
	require.Equal(t, 200, got.Status)
	require.Equal(t, string(data), string(got.Body))

	// A repeated finalize answers the same without rewriting the manifest.
	again, err := h.finalize(req)
	require.NoError(t, err)
	require.Equal(t, out, again)
	data2, err := os.ReadFile(filepath.Join(h.destDir, "jobs", id, model.ManifestFile))
	require.NoError(t, err)
	require.Equal(t, string(data), string(data2))
	require.Equal(t, 2.0, h.metric("secure_agent_publisher_manifests_written_total"))

	// Batches of a finalized job are ignored.
	late := p0[0]
	late.Run = "run-late"
	late.Key = job.StagingKey(id, "p000", "run-late", late.Kind, late.Seq)
	h.publish(job.TopicBatchReady, late)
	h.waitMetric(1, "secure_agent_publisher_ignored_events_total", "topic", "batch-ready", "reason", "job_finalized")
	require.Equal(t, batches, h.metric("secure_agent_publisher_batches_total", "result", "verified"))
	require.Zero(t, h.metric("secure_agent_publisher_batches_total", "result", "missing"))

	var manifest map[string]any
	require.NoError(t, json.Unmarshal(got.Body, &manifest))
	require.NotContains(t, manifest["source"], "dsn")
}
