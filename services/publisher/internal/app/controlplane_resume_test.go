package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// An upload to the control plane fails midway: the partition-done is
// redelivered, to a restarted publisher, which sends only the files the
// control plane lacks. Each file arrives once, and the manifest once,
// after every file. Whether the failed ingest was refused or stored with
// its answer lost makes no difference.
func TestControlPlaneUploadResumesWithoutDuplicates(t *testing.T) {
	for _, tc := range []struct {
		name       string
		lostAnswer bool
	}{{"ingest refused", false}, {"answer lost after the file was stored", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			const cpJob = "cp-job-42"
			w := newWorld(32 << 10)
			cp := newIngestFake()
			cp.failAt, cp.lostAnswer = 3, tc.lostAnswer
			mirror := newMemObjects()
			w.dests = map[string]DestinationStore{job.DestinationControlPlane: cp, "mirror": mirror}
			dests := []job.Destination{{Binding: job.DestinationControlPlane, JobID: cpJob}, {Binding: "mirror"}}
			ev := w.stageRun(t, "job-resume", "p001", "run-a", 3, 20, 200, 4000)
			ev.Destinations = dests

			err := w.newService(t).PublishPartition(ctx, ev)
			require.Error(t, err)
			require.Equal(t, errkind.Retry, errkind.PubSubStatus(err), "the event is redelivered: %v", err)
			require.Empty(t, w.events.all(), "no answer while the upload is incomplete")
			_, published, err := w.newService(t).publishRecord(ctx, ev.JobID, ev.Partition)
			require.NoError(t, err)
			require.False(t, published)
			before := len(cp.log)

			require.NoError(t, w.newService(t).PublishPartition(ctx, ev), "the redelivery")
			done := w.events.all()
			require.Len(t, done, 1)
			require.True(t, done[0].OK, done[0].Error)
			require.Greater(t, len(done[0].Files), 3)
			require.Len(t, cp.log, len(done[0].Files), "the redelivery sent only the %d files missing", len(done[0].Files)-before)

			stored := cp.files[cpJob]
			require.Len(t, stored, len(done[0].Files), "no file of the failed attempt differs from the published ones")
			for _, f := range done[0].Files {
				require.Equal(t, f, stored[f.SHA256])
				require.Equal(t, 1, cp.ingested[cpJob+"/"+f.SHA256], "%s ingested once", f.Name)
				require.Contains(t, mirror.snapshot(), job.JobDir(job.DefaultPrefix, ev.JobID)+"/"+f.Name)
			}
			require.Empty(t, cp.files[ev.JobID], "files go to the control plane's job id")

			req := job.FinalizeRequest{JobID: ev.JobID, Spec: job.Spec{Destinations: dests}, Partitions: []string{ev.Partition},
				StartedAt: time.Date(2025, 1, 2, 3, 0, 0, 0, time.UTC)}
			out, err := w.newService(t).Finalize(ctx, ev.JobID, req)
			require.NoError(t, err)
			require.Equal(t, "manifest", cp.log[len(cp.log)-1], "the manifest comes after every file")
			require.Len(t, cp.log, len(done[0].Files)+1)
			require.Equal(t, job.ManifestRef{Binding: job.DestinationControlPlane, Key: "jobs/" + cpJob + "/manifest",
				Files: len(done[0].Files), Bytes: int64(len(cp.manifests[cpJob])), SHA256: shaOf(cp.manifests[cpJob])}, out.Manifests[0])

			var m model.Manifest
			require.NoError(t, json.Unmarshal(cp.manifests[cpJob], &m))
			require.Equal(t, ev.JobID, m.JobID)
			want := slices.Clone(done[0].Files)
			slices.SortFunc(want, func(a, b model.FileInfo) int { return strings.Compare(a.Name, b.Name) })
			require.Equal(t, want, m.Files)

			again, err := w.newService(t).Finalize(ctx, ev.JobID, req)
			require.NoError(t, err)
			require.Equal(t, out, again)
			require.Len(t, cp.log, len(done[0].Files)+1, "a repeated finalize sends nothing")

			// The control plane cannot be read back: the manifest is served
			// from the next destination.
			data, err := w.newService(t).Manifest(ctx, ev.JobID)
			require.NoError(t, err)
			require.Equal(t, cp.manifests[cpJob], data)
		})
	}
}

// A control-plane destination on a publisher without the link fails the
// partition at once, before anything is read or uploaded, with the fix.
func TestControlPlaneDestinationWithoutLink(t *testing.T) {
	ctx := context.Background()
	w := newWorld(32 << 10)
	dest := newMemObjects()
	w.dests = map[string]DestinationStore{job.DefaultDestination: dest}
	ev := w.stageRun(t, "job-nolink", "p000", "run-a", 1, 2, 3, 100)
	dests := []job.Destination{{Binding: job.DefaultDestination}, {Binding: job.DestinationControlPlane}}
	ev.Destinations = dests
	svc := w.newService(t)
	reads := w.staging.reads

	require.NoError(t, svc.PublishPartition(ctx, ev))
	done := w.events.all()
	require.Len(t, done, 1)
	require.False(t, done[0].OK)
	require.Contains(t, done[0].Error, "CONTROLPLANE_URL and CONTROLPLANE_TOKEN_URL")
	require.Contains(t, done[0].Error, "nothing of the partition was uploaded")
	require.Empty(t, dest.snapshot())
	require.Equal(t, reads, w.staging.reads, "no staged file read")

	_, err := svc.Finalize(ctx, ev.JobID, job.FinalizeRequest{JobID: ev.JobID, Spec: job.Spec{Destinations: dests}})
	require.Equal(t, errkind.Invalid, errkind.Of(err), "%v", err)
	require.ErrorContains(t, err, "CONTROLPLANE_URL")
	require.Empty(t, dest.snapshot(), "no manifest anywhere")
}

// A refusal that repeating will not cure (unauthorized, unknown job)
// fails the partition with the reason instead of leaving it to time out.
func TestControlPlaneRefusalFailsThePartition(t *testing.T) {
	ctx := context.Background()
	w := newWorld(32 << 10)
	cp := newIngestFake()
	cp.refuse = errkind.New(errkind.Unauthorized, "controlplane ingestFile: the control plane refused the agent's credentials")
	w.dests = map[string]DestinationStore{job.DestinationControlPlane: cp}
	ev := w.stageRun(t, "job-refused", "p000", "run-a", 1, 2, 3, 100)
	ev.Destinations = []job.Destination{{Binding: job.DestinationControlPlane}}

	require.NoError(t, w.newService(t).PublishPartition(ctx, ev))
	done := w.events.all()
	require.Len(t, done, 1)
	require.False(t, done[0].OK)
	require.Contains(t, done[0].Error, "refused the agent's credentials")
	require.Empty(t, cp.log)
}

// A job whose manifest went only to the control plane has none to serve.
func TestManifestOnlyInTheControlPlane(t *testing.T) {
	ctx := context.Background()
	w := newWorld(32 << 10)
	cp := newIngestFake()
	w.dests = map[string]DestinationStore{job.DestinationControlPlane: cp}
	ev := w.stageRun(t, "job-cponly", "p000", "run-a", 1, 2, 3, 100)
	ev.Destinations = []job.Destination{{Binding: job.DestinationControlPlane}}
	svc := w.newService(t)
	require.NoError(t, svc.PublishPartition(ctx, ev))
	_, err := svc.Finalize(ctx, ev.JobID, job.FinalizeRequest{JobID: ev.JobID, Spec: job.Spec{Destinations: ev.Destinations},
		Partitions: []string{ev.Partition}})
	require.NoError(t, err)
	require.NotEmpty(t, cp.manifests[ev.JobID], "no job_id in the destination: this job's id")

	_, err = svc.Manifest(ctx, ev.JobID)
	require.Equal(t, errkind.NotFound, errkind.Of(err), "%v", err)
	require.ErrorContains(t, err, "read it there")
}

func shaOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
