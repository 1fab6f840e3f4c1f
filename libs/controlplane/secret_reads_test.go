package controlplane

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/daprclient"
	"github.com/secure-agent/secure-agent/libs/daprtest"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/metricdef"
)

// scopedSecrets is a Configuration allowing this app three keys of the
// store, one of which does not exist; every other key is denied.
const scopedSecrets = `apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: scoped
spec:
  secrets:
    scopes:
      - storeName: secrets
        defaultAccess: deny
        allowedSecrets: ["cp-id", "cp-secret", "absent"]
`

// TestSecretReadsThroughRealDaprd reads the client credentials from a real
// daprd's secret store with scopes and checks the kinds DaprSecrets gives
// its answers and what secure_agent_secret_reads_total counts: by store and
// result, never by key.
func TestSecretReadsThroughRealDaprd(t *testing.T) {
	const canary = "CANARY-secret-3e1f-do-not-leak"
	file := filepath.Join(t.TempDir(), "secrets.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"cp-id":"`+testClientID+`","cp-secret":"`+canary+`","denied-key":"x"}`), 0o600))
	sc := daprtest.Start(t, daprtest.Options{
		AppID:     "reader",
		Resources: map[string]string{"secrets.yaml": daprtest.LocalFileSecretStore("secrets", file)},
		Config:    scopedSecrets,
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	side, err := daprclient.Connect(ctx, daprclient.Options{AppID: "reader", HTTPPort: sc.HTTPPort, GRPCPort: sc.GRPCPort})
	require.NoError(t, err)
	defer side.Close()
	store := DaprSecrets{Getter: side.Client(), Store: "secrets"}

	v, err := store.Secret(ctx, "cp-secret")
	require.NoError(t, err)
	require.Equal(t, canary, v.Reveal())
	_, err = store.Secret(ctx, "denied-key")
	require.Equal(t, errkind.Unauthorized, errkind.Of(err), "%v", err)
	_, err = store.Secret(ctx, "absent")
	require.Equal(t, errkind.NotFound, errkind.Of(err), "%v", err)

	h := newHarness(t, canary)
	h.opts.Secrets = store
	h.opts.MaxRetries = 0
	rec := h.traced()
	// Another component of the process registered secret reads first: the
	// client counts into that collector.
	reg := prometheus.NewRegistry()
	shared := metricdef.SecretReads.CounterVec()
	require.NoError(t, reg.Register(shared))
	h.opts.Registerer = reg
	c := h.client(t)
	reads := func(result string) float64 { return testutil.ToFloat64(shared.WithLabelValues("secrets", result)) }
	require.NoError(t, c.Heartbeat(ctx, okHeartbeat))
	require.Equal(t, 2.0, reads(secretOK), "the client id and secret")

	// Clients of the same store whose secret key is denied or absent.
	for key, result := range map[string]string{"denied-key": secretDenied, "absent": secretNotFound} {
		h.opts.ClientSecretRef = key
		h.opts.Registerer = prometheus.NewRegistry()
		other := h.client(t)
		require.Error(t, other.Heartbeat(ctx, okHeartbeat))
		require.Equal(t, 1.0, testutil.ToFloat64(other.metrics.secretReads.WithLabelValues("secrets", result)), key)
		require.Equal(t, 0.0, testutil.ToFloat64(other.metrics.secretReads.WithLabelValues("secrets", secretError)), key)
	}

	mfs, err := reg.Gather()
	require.NoError(t, err)
	var series int
	for _, mf := range mfs {
		if mf.GetName() != metricdef.SecretReads.Name {
			continue
		}
		for _, m := range mf.GetMetric() {
			series++
			for _, l := range m.GetLabel() {
				require.Contains(t, []string{"store", "result"}, l.GetName())
				require.NotContains(t, []string{"cp-id", "cp-secret", canary}, l.GetValue())
			}
		}
	}
	require.Equal(t, 4, series, "each result of the store exists from the start")
	for _, s := range rec.Ended() {
		require.NotContains(t, spanText(s), canary)
	}
}
