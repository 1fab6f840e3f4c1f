package adapters

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/daprclient"
	"github.com/secure-agent/secure-agent/libs/daprtest"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/pubsub"
)

const stateComponent = `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.in-memory
  version: v1
`

func stateSidecar(t *testing.T) *daprclient.Sidecar {
	t.Helper()
	appID := fmt.Sprintf("health-dl-test-%d", time.Now().UnixNano())
	d := daprtest.Start(t, daprtest.Options{AppID: appID, Resources: map[string]string{"statestore.yaml": stateComponent}})
	sc, err := daprclient.Connect(context.Background(), daprclient.Options{AppID: appID, HTTPPort: d.HTTPPort,
		GRPCPort: d.GRPCPort, WaitTimeout: 30 * time.Second})
	require.NoError(t, err)
	t.Cleanup(sc.Close)
	return sc
}

func dl(id string) pubsub.DeadLetter {
	return pubsub.DeadLetter{ID: id, Topic: "partition-done", Subscriber: "orchestrator", EventID: "ev-" + id,
		Reason: "job is unknown", At: time.Now().UTC(), Event: []byte(`{"id":"ev-` + id + `"}`)}
}

func TestDeadLetterStoreOverDaprState(t *testing.T) {
	ctx := context.Background()
	s := NewDeadLetterStore(stateSidecar(t).Client(), "statestore")
	s.max = 3

	recs, err := s.List(ctx)
	require.NoError(t, err)
	require.Empty(t, recs)
	_, err = s.Get(ctx, "dl-x")
	require.Equal(t, errkind.NotFound, errkind.Of(err))

	for _, id := range []string{"dl-a", "dl-b"} {
		rec, err := s.Put(ctx, dl(id))
		require.NoError(t, err)
		require.Equal(t, 1, rec.Received)
	}
	again := dl("dl-a")
	again.Reason = "still unknown"
	rec, err := s.Put(ctx, again)
	require.NoError(t, err)
	require.Equal(t, 2, rec.Received, "the same dead letter is kept once and counted")
	require.Equal(t, "still unknown", rec.Reason)

	recs, err = s.List(ctx)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	require.Equal(t, "dl-a", recs[0].ID, "oldest first")
	require.JSONEq(t, `{"id":"ev-dl-a"}`, string(recs[0].Event))

	_, err = s.Put(ctx, dl("dl-c"))
	require.NoError(t, err)
	_, err = s.Put(ctx, dl("dl-d"))
	require.Equal(t, errkind.Transient, errkind.Of(err), "full: the broker keeps it until there is room")
	require.ErrorContains(t, err, "replay or discard")

	rec.Replays = 1
	rec.LastResult = "DROP: still unknown"
	require.NoError(t, s.Update(ctx, rec))
	got, err := s.Get(ctx, "dl-a")
	require.NoError(t, err)
	require.Equal(t, 1, got.Replays)

	require.NoError(t, s.Delete(ctx, "dl-a"))
	require.NoError(t, s.Delete(ctx, "dl-a"), "deleting twice is fine")
	_, err = s.Get(ctx, "dl-a")
	require.Equal(t, errkind.NotFound, errkind.Of(err))
	require.Equal(t, errkind.NotFound, errkind.Of(s.Update(ctx, rec)))
	recs, err = s.List(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"dl-b", "dl-c"}, []string{recs[0].ID, recs[1].ID})
}
