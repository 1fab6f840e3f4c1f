package adapters

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/daprtest"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/internal/app"
)

const inMemoryState = `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.in-memory
  version: v1
`

func TestRecordStoreThroughARealSidecar(t *testing.T) {
	sc := daprtest.Start(t, daprtest.Options{AppID: "extractor", Resources: map[string]string{"state.yaml": inMemoryState}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client, err := dapr.NewClientWithAddressContext(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(sc.GRPCPort)))
	require.NoError(t, err)
	defer client.Close()

	store, err := NewRecordStore(client, "statestore")
	require.NoError(t, err)
	key := app.RecordKey("job-1", "p000")
	_, found, err := store.LoadRecord(ctx, key)
	require.NoError(t, err)
	require.False(t, found)

	rec := app.Record{Run: "0123456789abcdef", Attempt: 2, Queries: 11, Elapsed: job.Duration(3 * time.Second),
		Rows: map[model.Kind]int64{model.KindTable: 4},
		Files: []job.BatchReady{{JobID: "job-1", Partition: "p000", Run: "0123456789abcdef", Kind: model.KindTable, Seq: 0,
			Key: "jobs/job-1/p000/0123456789abcdef/table-000000.arrows", SHA256: "ab", Bytes: 10, Rows: 4}}}
	require.NoError(t, store.SaveRecord(ctx, key, rec))
	got, found, err := store.LoadRecord(ctx, key)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, rec, got)

	missing, err := NewRecordStore(client, "no-such-store")
	require.NoError(t, err)
	_, _, err = missing.LoadRecord(ctx, key)
	require.Equal(t, errkind.Transient, errkind.Of(err))
	require.ErrorContains(t, err, "state store no-such-store")
}

func TestSecretSourceWithoutPassword(t *testing.T) {
	s, err := NewSecretSource(nopGetter{})
	require.NoError(t, err)
	creds, err := s.For(nil)
	require.NoError(t, err)
	pw, err := creds.Password(context.Background())
	require.NoError(t, err)
	require.Empty(t, pw)
	_, err = s.For(&job.SecretRef{Store: "secrets"})
	require.ErrorContains(t, err, "missing key")
}
