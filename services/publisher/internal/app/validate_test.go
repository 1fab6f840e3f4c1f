package app

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

func batch() job.BatchReady {
	return job.BatchReady{JobID: "j1", Partition: "p000", Run: "r1", Kind: model.KindTable, Seq: 2,
		Key: job.StagingKey("j1", "p000", "r1", model.KindTable, 2), SHA256: strings.Repeat("ab", 32), Bytes: 10, Rows: 3}
}

func TestValidateBatch(t *testing.T) {
	require.NoError(t, validateBatch(batch()))
	tests := []struct {
		name   string
		change func(*job.BatchReady)
		want   string
	}{
		{"empty job", func(b *job.BatchReady) { b.JobID = "" }, "job_id"},
		{"job with a slash", func(b *job.BatchReady) { b.JobID = "a/b" }, "job_id"},
		{"dot-dot partition", func(b *job.BatchReady) { b.Partition = ".." }, "partition"},
		{"unknown kind", func(b *job.BatchReady) { b.Kind = "view" }, "view"},
		{"negative seq", func(b *job.BatchReady) { b.Seq = -1 }, "negative"},
		{"key of another job", func(b *job.BatchReady) { b.Key = "jobs/j2/p000/r1/table-000002.arrows" }, "not a staging key"},
		{"key of another run", func(b *job.BatchReady) { b.Key = "jobs/j1/p000/r2/table-000002.arrows" }, "not a staging key"},
		{"key escaping", func(b *job.BatchReady) { b.Key = "jobs/j1/p000/r1/../../../etc/passwd" }, "not a staging key"},
		{"short sha", func(b *job.BatchReady) { b.SHA256 = "abc" }, "sha256"},
		{"upper-case sha", func(b *job.BatchReady) { b.SHA256 = strings.Repeat("AB", 32) }, "sha256"},
		{"negative rows", func(b *job.BatchReady) { b.Rows = -1 }, "negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := batch()
			tc.change(&b)
			err := validateBatch(b)
			require.Error(t, err)
			require.Equal(t, errkind.Invalid, errkind.Of(err))
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestValidatePartitionDone(t *testing.T) {
	ok := job.PartitionDone{JobID: "j1", Partition: "p000", Run: "r1", OK: true, Files: []job.BatchReady{batch()}}
	require.NoError(t, validatePartitionDone(ok))
	toControlPlane := ok
	toControlPlane.Destinations = []job.Destination{{Binding: job.DestinationControlPlane, JobID: "cp-job-1"}, {Binding: "dest"}}
	require.NoError(t, validatePartitionDone(toControlPlane))
	tests := []struct {
		name   string
		change func(*job.PartitionDone)
		want   string
	}{
		{"file of another run", func(d *job.PartitionDone) { d.Files[0].Run = "r0" }, `run "r0"`},
		{"file listed twice", func(d *job.PartitionDone) { d.Files = append(d.Files, d.Files[0]) }, "listed twice"},
		{"bad binding", func(d *job.PartitionDone) { d.Destinations = []job.Destination{{Binding: "a b"}} }, "binding"},
		{"bad prefix", func(d *job.PartitionDone) { d.Destinations = []job.Destination{{Binding: "dest", Prefix: "../up"}} }, "prefix"},
		{"job id for a binding", func(d *job.PartitionDone) { d.Destinations = []job.Destination{{Binding: "dest", JobID: "cp-1"}} }, "job_id"},
		{"bad control-plane job id", func(d *job.PartitionDone) {
			d.Destinations = []job.Destination{{Binding: job.DestinationControlPlane, JobID: "a/b"}}
		}, "job_id"},
		{"binding twice", func(d *job.PartitionDone) {
			d.Destinations = []job.Destination{{Binding: "dest"}, {Binding: "dest", Prefix: "other"}}
		}, "listed twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := ok
			d.Files = append([]job.BatchReady(nil), ok.Files...)
			tc.change(&d)
			err := validatePartitionDone(d)
			require.Equal(t, errkind.Invalid, errkind.Of(err), "%v", err)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestDestinationsDefaults(t *testing.T) {
	require.Equal(t, []job.Destination{{Binding: "destination", Prefix: "jobs"}}, destinations(nil))
	require.Equal(t, []job.Destination{{Binding: "s3", Prefix: "jobs"}, {Binding: "gcs", Prefix: "a/b"}},
		destinations([]job.Destination{{Binding: "s3"}, {Binding: "gcs", Prefix: "a/b"}}))
}
