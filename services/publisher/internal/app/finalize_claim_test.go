package app

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// publishedForFinalize stages and publishes one partition of job id and
// answers the finalize request for it.
func publishedForFinalize(t *testing.T, w *world, id string) job.FinalizeRequest {
	t.Helper()
	spec := job.Spec{Connection: testConn}
	spec.Normalize()
	ev := w.stageRun(t, id, "p000", "run-1", 2, 20, 5, 1000)
	ev.Connection = testConn
	require.NoError(t, w.newService(t).PublishPartition(context.Background(), ev))
	return job.FinalizeRequest{JobID: id, Spec: spec, Partitions: []string{"p000"}}
}

func manifestKeyOf(id string) string {
	return job.JobDir(job.DefaultPrefix, id) + "/" + model.ManifestFile
}

// The workflow sends a job's finalize again while the first call is still
// writing (its sidecar died), and the two calls reach two publisher
// replicas: the second waits for the first's claim and answers with its
// record. The manifest is written once.
func TestTwoReplicasFinalizeAJobOnce(t *testing.T) {
	ctx := context.Background()
	w := newWorld(32 << 10)
	dest := newCountingDest()
	w.dests = map[string]DestinationStore{job.DefaultDestination: dest}
	req := publishedForFinalize(t, w, "job-fin-two")
	// The second replica's claim reads are watched: once it has read the
	// claim, it has passed its check for a finished job.
	second := &watchedVersioned{memVersioned: w.versioned, loaded: make(chan int, 100)}
	dest.mu.Lock()
	dest.gate = make(chan struct{}) // every put from now on waits
	dest.mu.Unlock()

	type answer struct {
		out job.Finalized
		err error
	}
	answers := make(chan answer, 2)
	finalize := func(name string, versioned VersionedStore) {
		out, err := w.replica(t, name, versioned, 5*time.Second).Finalize(ctx, req.JobID, req)
		answers <- answer{out, err}
	}
	go finalize("publisher", w.versioned)
	<-dest.enter // the first replica holds the claim and writes the manifest
	go finalize("publisher-2", second)
	<-second.loaded // the second read the claim: held

	dest.mu.Lock()
	close(dest.gate)
	dest.gate = nil
	dest.mu.Unlock()
	a, b := <-answers, <-answers
	require.NoError(t, a.err)
	require.NoError(t, b.err)
	require.Equal(t, a.out, b.out, "both calls answer the same manifests")
	require.Equal(t, 1, dest.counts()[manifestKeyOf(req.JobID)], "the manifest is written once")
	_, found, err := w.versioned.Load(ctx, finalizeClaimKey(req.JobID), &struct{}{})
	require.NoError(t, err)
	require.False(t, found, "the claim is deleted once the job is recorded")
}

// stallingDest lets the manifest's put land and then holds the caller:
// a replica that dies right after writing the manifest, before it records
// the job.
type stallingDest struct {
	*memObjects
	mu     sync.Mutex
	puts   map[string]int
	landed chan struct{} // closed once the manifest landed
	gate   chan struct{}
}

func (d *stallingDest) Put(ctx context.Context, key string, data []byte) error {
	err := d.memObjects.Put(ctx, key, data)
	d.mu.Lock()
	d.puts[key]++
	first := strings.HasSuffix(key, "/"+model.ManifestFile) && d.puts[key] == 1
	d.mu.Unlock()
	if first {
		close(d.landed)
		<-d.gate
	}
	return err
}

// A replica dies right after writing a job's manifest. The replica that
// takes the finalize over after the claim's TTL builds the same manifest
// (its time was kept with the claim) and finds it written: the manifest is
// not written twice, and the answer describes the bytes the destination
// holds. The dead one, should it come back, records nothing.
func TestAFinalizeTakeoverDoesNotWriteTheManifestAgain(t *testing.T) {
	ctx := context.Background()
	w := newWorld(32 << 10)
	dest := &stallingDest{memObjects: newMemObjects(), puts: map[string]int{}, landed: make(chan struct{}), gate: make(chan struct{})}
	w.dests = map[string]DestinationStore{job.DefaultDestination: dest}
	req := publishedForFinalize(t, w, "job-fin-dead")
	first := &watchedVersioned{memVersioned: w.versioned, loaded: make(chan int, 100)}
	const ttl = time.Second

	firstErr := make(chan error, 1)
	go func() {
		_, err := w.replica(t, "publisher", first, ttl).Finalize(ctx, req.JobID, req)
		firstErr <- err
	}()
	<-dest.landed
	first.mu.Lock()
	first.cut = true // it hangs and its renewals stop
	first.mu.Unlock()

	second := w.replica(t, "publisher-2", w.versioned, ttl)
	later := time.Date(2025, 1, 2, 4, 0, 0, 0, time.UTC)
	second.now = func() time.Time { return later }
	start := time.Now()
	out, err := second.Finalize(ctx, req.JobID, req)
	require.NoError(t, err)
	took := time.Since(start)
	require.GreaterOrEqual(t, took, ttl, "taken over only after the claim's TTL")
	require.Less(t, took, 3*ttl)

	key := manifestKeyOf(req.JobID)
	dest.mu.Lock()
	require.Equal(t, 1, dest.puts[key], "the manifest is written once")
	dest.mu.Unlock()
	data, err := dest.Get(ctx, key)
	require.NoError(t, err)
	require.Len(t, out.Manifests, 1)
	require.Equal(t, shaOf(data), out.Manifests[0].SHA256, "the answer describes the manifest written")
	var m model.Manifest
	require.NoError(t, json.Unmarshal(data, &m))
	require.True(t, m.FinishedAt.Before(later), "the manifest keeps the first attempt's time, not %s", m.FinishedAt)

	// The first replica wakes up: its claim is gone, it records nothing.
	first.mu.Lock()
	first.cut = false
	first.mu.Unlock()
	close(dest.gate)
	err = <-firstErr
	require.ErrorIs(t, err, errClaimLost)
	require.Equal(t, errkind.Transient, errkind.Of(err), "%v", err)
	rec, done, err := w.newService(t).jobRecord(ctx, req.JobID)
	require.NoError(t, err)
	require.True(t, done)
	require.Equal(t, out, *rec.Finalized, "the record is the second replica's")
}
