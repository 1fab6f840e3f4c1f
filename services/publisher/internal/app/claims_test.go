package app

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
)

// countingDest counts the puts of every key; while gate is set, each put
// waits for it (a slow destination).
type countingDest struct {
	*memObjects
	mu    sync.Mutex
	puts  map[string]int
	gate  chan struct{}
	enter chan struct{} // one value per put that waits at the gate
}

func newCountingDest() *countingDest {
	return &countingDest{memObjects: newMemObjects(), puts: map[string]int{}, enter: make(chan struct{}, 100)}
}

func (d *countingDest) Put(ctx context.Context, key string, data []byte) error {
	d.mu.Lock()
	d.puts[key]++
	gate := d.gate
	d.mu.Unlock()
	if gate != nil {
		d.enter <- struct{}{}
		<-gate
	}
	return d.memObjects.Put(ctx, key, data)
}

func (d *countingDest) counts() map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]int{}
	for k, v := range d.puts {
		out[k] = v
	}
	return out
}

// watchedVersioned reports loads of the claim keys and can be cut off (a
// replica that died: its renewals stop reaching the store).
type watchedVersioned struct {
	*memVersioned
	mu         sync.Mutex
	claimLoads int
	loaded     chan int
	cut        bool
}

func (v *watchedVersioned) Load(ctx context.Context, key string, out any) (string, bool, error) {
	v.mu.Lock()
	cut := v.cut
	if (strings.HasPrefix(key, "publish-claim/") || strings.HasPrefix(key, "finalize-claim/")) && !cut {
		v.claimLoads++
		select {
		case v.loaded <- v.claimLoads:
		default:
		}
	}
	v.mu.Unlock()
	if cut {
		return "", false, errkind.New(errkind.Transient, "the state store cannot be reached")
	}
	return v.memVersioned.Load(ctx, key, out)
}

func (v *watchedVersioned) Save(ctx context.Context, key string, val any, etag string) error {
	v.mu.Lock()
	cut := v.cut
	v.mu.Unlock()
	if cut {
		return errkind.New(errkind.Transient, "the state store cannot be reached")
	}
	return v.memVersioned.Save(ctx, key, val, etag)
}

func (w *world) replica(t *testing.T, name string, versioned VersionedStore, ttl time.Duration) *Service {
	t.Helper()
	svc := w.newService(t)
	svc.instance, svc.claimTTL, svc.claims = name, ttl, versioned
	return svc
}

// The same partition-done delivered to two publisher replicas at once
// (the broker redelivered it while the first was still publishing): the
// second waits for the first's claim and answers with its record; every
// upload file is put once.
func TestTwoReplicasPublishAPartitionOnce(t *testing.T) {
	ctx := context.Background()
	w := newWorld(32 << 10)
	dest := newCountingDest()
	dest.gate = make(chan struct{})
	w.dests = map[string]DestinationStore{job.DefaultDestination: dest}
	ev := w.stageRun(t, "job-two", "p001", "run-a", 3, 20, 200, 4000)
	claims := &watchedVersioned{memVersioned: w.versioned, loaded: make(chan int, 100)}

	errs := make(chan error, 2)
	go func() { errs <- w.replica(t, "publisher", claims, 5*time.Second).PublishPartition(ctx, ev) }()
	<-dest.enter // the first replica holds the claim and is uploading
	go func() { errs <- w.replica(t, "publisher-2", claims, 5*time.Second).PublishPartition(ctx, ev) }()
	for n := range claims.loaded {
		if n >= 3 { // the first took it (load, read back), the second found it held
			break
		}
	}
	dest.mu.Lock()
	close(dest.gate)
	dest.gate = nil
	dest.mu.Unlock()
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)

	done := w.events.all()
	require.Len(t, done, 2, "both deliveries are answered")
	require.True(t, done[0].OK && done[1].OK)
	require.Equal(t, done[0].Files, done[1].Files)
	require.Greater(t, len(done[0].Files), 3)
	for key, n := range dest.counts() {
		require.Equal(t, 1, n, "%s was uploaded %d times", key, n)
	}
	_, found, err := w.versioned.Load(ctx, claimKey(ev.JobID, ev.Partition), &struct{}{})
	require.NoError(t, err)
	require.False(t, found, "the claim is deleted once the partition is recorded")
}

// A replica that dies while publishing stops renewing its claim; another
// takes the partition over after the claim's TTL and publishes it. The
// dead one, should it come back, records nothing.
func TestAReplicaTakesOverTheClaimOfADeadOne(t *testing.T) {
	ctx := context.Background()
	w := newWorld(32 << 10)
	dest := newCountingDest()
	gate := make(chan struct{})
	dest.gate = gate
	w.dests = map[string]DestinationStore{job.DefaultDestination: dest}
	ev := w.stageRun(t, "job-dead", "p001", "run-a", 3, 20, 200, 4000)
	first := &watchedVersioned{memVersioned: w.versioned, loaded: make(chan int, 100)}
	const ttl = time.Second

	firstErr := make(chan error, 1)
	go func() { firstErr <- w.replica(t, "publisher", first, ttl).PublishPartition(ctx, ev) }()
	<-dest.enter
	first.mu.Lock()
	first.cut = true // it hangs and its renewals stop
	first.mu.Unlock()
	dest.mu.Lock()
	dest.gate = nil // puts of the second replica do not wait
	dest.mu.Unlock()

	start := time.Now()
	require.NoError(t, w.replica(t, "publisher-2", w.versioned, ttl).PublishPartition(ctx, ev))
	took := time.Since(start)
	require.GreaterOrEqual(t, took, ttl, "taken over only after the claim's TTL")
	require.Less(t, took, 3*ttl)
	done := w.events.all()
	require.Len(t, done, 1)
	require.True(t, done[0].OK, done[0].Error)
	rec, ok, err := w.newService(t).publishRecord(ctx, ev.JobID, ev.Partition)
	require.NoError(t, err)
	require.True(t, ok)

	// The first replica wakes up: its claim is gone, it records nothing.
	first.mu.Lock()
	first.cut = false
	first.mu.Unlock()
	close(gate)
	err = <-firstErr
	require.Error(t, err)
	require.Equal(t, errkind.Retry, errkind.PubSubStatus(err), "%v", err)
	require.ErrorIs(t, err, errClaimLost)
	again, _, err := w.newService(t).publishRecord(ctx, ev.JobID, ev.Partition)
	require.NoError(t, err)
	require.Equal(t, rec, again, "the record is the second replica's")
	require.Len(t, w.events.all(), 1, "the first replica sent no publish-done")
}

// landedDest counts the puts that reached the store, by key; put number
// hold waits for gate (a replica dying mid-upload).
type landedDest struct {
	*memObjects
	mu     sync.Mutex
	landed map[string]int
	hold   int           // the put with this number (1-based) waits for gate
	gate   chan struct{} // closed to let it through
	held   chan struct{} // closed when it waits
	n      int
}

func (d *landedDest) Put(ctx context.Context, key string, data []byte) error {
	d.mu.Lock()
	d.n++
	n := d.n
	d.mu.Unlock()
	if n == d.hold {
		close(d.held)
		<-d.gate
	}
	d.mu.Lock()
	d.landed[key]++
	d.mu.Unlock()
	return d.memObjects.Put(ctx, key, data)
}

// A replica dies after it uploaded some of a partition's files; the one
// taking the partition over uploads only the files the destination does
// not hold yet: none is written twice.
func TestATakeoverUploadsOnlyWhatIsMissing(t *testing.T) {
	ctx := context.Background()
	w := newWorld(32 << 10)
	dest := &landedDest{memObjects: newMemObjects(), landed: map[string]int{}, hold: 3, gate: make(chan struct{}), held: make(chan struct{})}
	w.dests = map[string]DestinationStore{job.DefaultDestination: dest}
	ev := w.stageRun(t, "job-resume-dest", "p001", "run-a", 3, 20, 200, 4000)
	first := &watchedVersioned{memVersioned: w.versioned, loaded: make(chan int, 100)}
	const ttl = time.Second

	go func() { _ = w.replica(t, "publisher", first, ttl).PublishPartition(ctx, ev) }()
	<-dest.held // two files written, the third in flight: the replica dies
	first.mu.Lock()
	first.cut = true
	first.mu.Unlock()

	require.NoError(t, w.replica(t, "publisher-2", w.versioned, ttl).PublishPartition(ctx, ev))
	done := w.events.all()
	require.Len(t, done, 1)
	require.True(t, done[0].OK, done[0].Error)
	require.Greater(t, len(done[0].Files), 3)
	dest.mu.Lock()
	defer dest.mu.Unlock()
	require.Len(t, dest.landed, len(done[0].Files), "every upload file is in the destination")
	for key, n := range dest.landed {
		require.Equal(t, 1, n, "%s was written %d times", key, n)
	}
	close(dest.gate) // the dead replica's put never lands in reality
}
