package app

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

func TestForwarderRaisesEventsIntoRunningJobs(t *testing.T) {
	ctx := context.Background()
	runs := newMemRuns()
	runs.set("j-run", Run{State: RunRunning})
	runs.set("j-done", Run{State: RunCompleted})
	f := NewForwarder(runs, nil, nil)

	pd := job.PartitionDone{JobID: "j-run", Partition: "p000", Attempt: 2, Run: "r1", OK: true,
		Files: []job.BatchReady{{Key: "k"}}, Rows: map[model.Kind]int64{model.KindTable: 1}}
	require.NoError(t, f.PartitionDone(ctx, pd))
	require.NoError(t, f.PublishDone(ctx, job.PublishDone{JobID: "j-run", Partition: "p000", OK: true, Files: []model.FileInfo{{Name: "x"}}}))
	evs := runs.events("j-run")
	require.Len(t, evs, 2)
	require.Equal(t, EventPartitionDone, evs[0].Type)
	var got job.PartitionDone
	require.NoError(t, json.Unmarshal(evs[0].Payload, &got))
	require.Nil(t, got.Files, "file lists stay out of the workflow history")
	require.Equal(t, 2, got.Attempt)
	require.Equal(t, EventPublishDone, evs[1].Type)
	require.NotContains(t, string(evs[1].Payload), `"files"`)

	require.NoError(t, f.PartitionDone(ctx, job.PartitionDone{JobID: "j-done", Partition: "p000"}), "finished job: acknowledged")
	require.Empty(t, runs.events("j-done"))

	err := f.PublishDone(ctx, job.PublishDone{JobID: "j-unknown", Partition: "p000"})
	require.Equal(t, errkind.NotFound, errkind.Of(err), "unknown job: dead letter")
	require.Equal(t, errkind.Drop, errkind.PubSubStatus(err))

	err = f.PartitionDone(ctx, job.PartitionDone{Partition: "p000"})
	require.Equal(t, errkind.Invalid, errkind.Of(err))

	runs.notifyErr = errors.New("workflow engine not ready")
	err = f.PartitionDone(ctx, pd)
	require.Equal(t, errkind.Transient, errkind.Of(err))
	require.Equal(t, errkind.Retry, errkind.PubSubStatus(err))
	runs.notifyErr = nil
	runs.inspectErr = errors.New("sidecar restarting")
	require.Equal(t, errkind.Retry, errkind.PubSubStatus(f.PartitionDone(ctx, pd)))
}
