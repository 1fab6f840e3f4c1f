package controlplane

import (
	"context"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

func TestTokenFetchedOnceAndReused(t *testing.T) {
	h := newHarness(t, "secret-one")
	c := h.client(t)
	ctx := context.Background()

	for range 3 {
		require.NoError(t, c.Heartbeat(ctx, Heartbeat{AgentID: "a1", Version: "v", Status: AgentOK}))
	}
	_, err := c.RenewLease(ctx, "lease-1")
	require.NoError(t, err)

	_, fetches := h.cp.snapshot()
	require.Equal(t, 1, fetches, "one token serves every call while it is valid")
	require.Equal(t, 1, h.vault.readsOf("cp-secret"))
	require.Equal(t, 1, h.vault.readsOf("cp-id"))
	require.InDelta(t, 1, testutil.ToFloat64(c.metrics.tokens.WithLabelValues("ok")), 0)
	require.InDelta(t, 4, testutil.ToFloat64(c.metrics.requests.WithLabelValues(opHeartbeat, "2xx"))+
		testutil.ToFloat64(c.metrics.requests.WithLabelValues(opRenew, "2xx")), 0)
}

func TestSecretRotationNeedsNoRestart(t *testing.T) {
	h := newHarness(t, "secret-old")
	c := h.client(t)
	ctx := context.Background()
	require.NoError(t, c.Heartbeat(ctx, Heartbeat{AgentID: "a1", Version: "v", Status: AgentOK}))

	// The vault and the control plane move to a new secret; the old token is revoked.
	h.cp.rotate("secret-new")
	h.vault.put("cp-secret", "secret-new")

	require.NoError(t, c.Heartbeat(ctx, Heartbeat{AgentID: "a1", Version: "v", Status: AgentOK}))
	_, fetches := h.cp.snapshot()
	require.Equal(t, 2, fetches)
	require.Equal(t, 2, h.vault.readsOf("cp-secret"), "the secret is read again after the 401")
	require.Len(t, h.cp.apiHits("/heartbeat"), 3, "ok, 401 with the old token, ok with the new one")
	require.InDelta(t, 1, testutil.ToFloat64(c.metrics.requests.WithLabelValues(opHeartbeat, "4xx")), 0)
}

func TestSecretRotatedOnlyOnServerIsUnauthorized(t *testing.T) {
	h := newHarness(t, "secret-old")
	c := h.client(t)
	ctx := context.Background()
	require.NoError(t, c.Heartbeat(ctx, Heartbeat{AgentID: "a1", Version: "v", Status: AgentOK}))

	h.cp.rotate("secret-new") // the vault still holds the old one

	err := c.Heartbeat(ctx, Heartbeat{AgentID: "a1", Version: "v", Status: AgentOK})
	require.Error(t, err)
	require.Equal(t, errkind.Unauthorized, errkind.Of(err))
	require.Contains(t, err.Error(), "invalid_client")
	require.Contains(t, err.Error(), "check the client id and secret")
	require.Equal(t, 2, h.vault.readsOf("cp-secret"))
	require.InDelta(t, 1, testutil.ToFloat64(c.metrics.tokens.WithLabelValues("error")), 0)
}

func TestAPIRefusingFreshTokenIsUnauthorized(t *testing.T) {
	h := newHarness(t, "secret-s")
	h.cp.set(func(f *fakeControlPlane) { f.rejectAPI = true })
	c := h.client(t)

	err := c.Heartbeat(context.Background(), Heartbeat{AgentID: "a1", Version: "v", Status: AgentOK})
	require.Error(t, err)
	require.Equal(t, errkind.Unauthorized, errkind.Of(err))
	require.Contains(t, err.Error(), "req-401-invalid_token")
	require.Len(t, h.cp.apiHits("/heartbeat"), 2, "exactly one retry with a fresh token")
	_, fetches := h.cp.snapshot()
	require.Equal(t, 2, fetches)
}

func TestConcurrentCallsShareOneToken(t *testing.T) {
	h := newHarness(t, "secret-one")
	c := h.client(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() { errs <- c.Heartbeat(context.Background(), okHeartbeat) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	_, fetches := h.cp.snapshot()
	require.Equal(t, 1, fetches)
	require.Len(t, h.cp.apiHits("/heartbeat"), 16)
}
