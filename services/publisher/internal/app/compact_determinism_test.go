package app

import (
	"context"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
)

// A redelivered partition, or one published again after a restart, must
// give byte-identical upload files: same names, same sha256. The control
// plane skips the files it has by sha256, so a file that came out
// different would be uploaded a second time. The second publish runs in a
// fresh service with GOMAXPROCS 1, as on a smaller machine, because the
// zstd encoder's concurrency follows GOMAXPROCS. Batches of 4000 rows make
// column buffers larger than one zstd block (128 KiB).
func TestCompactionIsDeterministic(t *testing.T) {
	ctx := context.Background()
	w := newWorld(32 << 10)
	ev := w.stageRun(t, "job-det", "p007", "run-a", 3, 20, 200, 4000)

	publish := func(procs int) (job.PublishDone, map[string][]byte) {
		prev := runtime.GOMAXPROCS(procs)
		defer runtime.GOMAXPROCS(prev)
		dest := newMemObjects()
		w.records, w.events = newMemRecords(), &memEvents{} // nothing recorded: compaction runs again
		w.dests = map[string]DestinationStore{job.DefaultDestination: dest}
		require.NoError(t, w.newService(t).PublishPartition(ctx, ev))
		done := w.events.all()
		require.Len(t, done, 1)
		require.True(t, done[0].OK, done[0].Error)
		return done[0], dest.snapshot()
	}
	first, firstObjects := publish(4)
	second, secondObjects := publish(1)

	require.Greater(t, len(first.Files), 3, "the run is compacted into several upload files")
	require.Equal(t, first.Files, second.Files, "same names, sizes, rows and sha256")
	require.Equal(t, firstObjects, secondObjects, "same bytes under the same keys")
	require.Len(t, firstObjects, len(first.Files))
}
