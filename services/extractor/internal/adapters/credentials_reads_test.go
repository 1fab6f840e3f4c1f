package adapters

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/metricdef"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// Every read of a real sidecar's secret stores is counted by store and by
// what daprd answered; the keys are in no label.
func TestSecretReadsAreCountedByResult(t *testing.T) {
	const pw = "reads-canary-password-4c1e"
	client := bindingSidecar(t, map[string]any{
		"sales-db":                   map[string]string{"password": pw, "allowed_hosts": "db:5432"},
		"controlplane-client-secret": pw, // outside the extractor's secret scopes
	})
	reg := prometheus.NewRegistry()
	reads, err := NewSecretReads(reg)
	require.NoError(t, err)
	source, err := NewSecretSource(reads.Counting(client))
	require.NoError(t, err)
	db := []connector.Target{connector.TCPTarget("db:5432")}
	password := func(ctx context.Context, ref job.SecretRef) error {
		creds, err := source.For(&ref)
		require.NoError(t, err)
		_, err = connector.PasswordFor(ctx, creds, db)
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	require.Equal(t, 0, testutil.CollectAndCount(reads.reads), "no series before a store answered")
	// The password and its host binding: two reads.
	require.NoError(t, password(ctx, job.SecretRef{Store: "secrets", Key: "sales-db:password"}))
	require.Equal(t, 4, testutil.CollectAndCount(reads.reads), "a store that answered has all its results")
	require.Error(t, password(ctx, job.SecretRef{Store: "secrets", Key: "nope"}))
	require.Error(t, password(ctx, job.SecretRef{Store: "secrets", Key: "controlplane-client-secret"}))
	require.Error(t, password(ctx, job.SecretRef{Store: "vault", Key: "sales-db:password"}))
	stopped, stop := context.WithCancel(ctx)
	stop()
	require.Error(t, password(stopped, job.SecretRef{Store: "secrets", Key: "sales-db:password"}))

	for _, c := range []struct {
		store, result string
		want          float64
	}{
		{"secrets", ReadOK, 2},
		{"secrets", ReadNotFound, 1},
		{"secrets", ReadDenied, 1},
		{"secrets", ReadError, 1},
		{"vault", ReadNotFound, 1},
	} {
		require.Equal(t, c.want, testutil.ToFloat64(reads.reads.WithLabelValues(c.store, c.result)), "%s %s", c.store, c.result)
	}
	families, err := reg.Gather()
	require.NoError(t, err)
	require.Len(t, families, 1)
	require.Equal(t, metricdef.SecretReads.Name, families[0].GetName())
	for _, m := range families[0].GetMetric() {
		for _, l := range m.GetLabel() {
			require.NotContains(t, []string{"sales-db:password", "nope", "controlplane-client-secret", pw}, l.GetValue())
		}
	}
}
