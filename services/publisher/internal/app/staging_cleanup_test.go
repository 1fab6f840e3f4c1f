package app

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// stagedOf lists the staging keys of a job.
func (w *world) stagedOf(t *testing.T, jobID string) []string {
	t.Helper()
	keys, err := w.staging.List(context.Background(), "jobs/"+jobID)
	require.NoError(t, err)
	return keys
}

// An extraction still running when its job is cancelled stages files
// after the cancel cleaned staging: its announcements must delete them,
// not just be ignored (they stayed there for good).
func TestFilesStagedAfterCancelAreDeleted(t *testing.T) {
	ctx := context.Background()
	w := newWorld(1 << 20)
	svc := w.newService(t)
	require.NoError(t, svc.Cancel(ctx, "j-late"))

	ev := w.stageRun(t, "j-late", "p000", "run-1", 2, 3, 4, 100)
	require.NotEmpty(t, w.stagedOf(t, "j-late"))
	require.NoError(t, svc.VerifyBatch(ctx, ev.Files[0]))
	require.Len(t, w.stagedOf(t, "j-late"), len(ev.Files)-1, "an announced batch of a cancelled job is deleted")
	require.NoError(t, svc.PublishPartition(ctx, ev))
	require.Empty(t, w.stagedOf(t, "j-late"), "the run's files are deleted when it ends")
}

// Files of a run that never announced them (its extractor was killed
// after the job ended) are deleted by the sweep; live jobs keep theirs.
func TestStagingSweepDeletesOnlyEndedJobs(t *testing.T) {
	ctx := context.Background()
	w := newWorld(1 << 20)
	svc := w.newService(t)
	w.stageRun(t, "j-ended", "p000", "run-1", 2, 3, 4, 100)
	live := w.stageRun(t, "j-live", "p000", "run-1", 1, 3, 4, 100)
	require.NoError(t, svc.Cancel(ctx, "j-ended"))
	w.stageRun(t, "j-ended", "p001", "run-9", 1, 3, 4, 100) // after the cancel's cleanup

	n, err := svc.SweepStaging(ctx)
	require.NoError(t, err)
	require.Positive(t, n)
	require.Empty(t, w.stagedOf(t, "j-ended"))
	require.Len(t, w.stagedOf(t, "j-live"), len(live.Files))
}
