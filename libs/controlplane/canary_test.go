package controlplane

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	"go.uber.org/zap/zapcore"
)

// TestSecretNeverLeaks drives every failure path with a canary secret and
// checks that neither errors, log lines (at debug level) nor spans contain
// it or an access token.
func TestSecretNeverLeaks(t *testing.T) {
	const canary = "CANARY-7f3a9c-do-not-leak"
	h := newHarness(t, canary)
	h.opts.MaxRetries = 1
	rec := h.traced()
	c := h.client(t)
	ctx := context.Background()
	var errs []error

	// Successes and retries: the token is fetched, used and logged around.
	h.cp.push("POST /heartbeat", scripted{status: http.StatusServiceUnavailable}, scripted{drop: true})
	errs = append(errs, c.Heartbeat(ctx, okHeartbeat))
	h.cp.push("POST /heartbeat", scripted{status: http.StatusTooManyRequests}, scripted{status: http.StatusTooManyRequests})
	errs = append(errs, c.Heartbeat(ctx, okHeartbeat))
	_, err := c.RenewLease(ctx, "lost")
	errs = append(errs, err)
	// The API refuses every token: 401, refresh, 401.
	h.cp.set(func(f *fakeControlPlane) { f.rejectAPI = true })
	errs = append(errs, c.Heartbeat(ctx, okHeartbeat))
	// The token endpoint refuses the secret and, worse, quotes it back.
	h.cp.set(func(f *fakeControlPlane) { f.rejectAPI = false; f.tokenEcho = true })
	h.cp.rotate("something-else")
	errs = append(errs, c.Heartbeat(ctx, okHeartbeat))

	var nonNil int
	for _, err := range errs {
		if err == nil {
			continue
		}
		nonNil++
		msg := fmt.Sprintf("%v %+v", err, err)
		require.NotContains(t, msg, canary)
		require.NotContains(t, msg, "access-token-")
	}
	require.GreaterOrEqual(t, nonNil, 4, "the failure paths were really taken")

	entries := h.logs.All()
	require.NotEmpty(t, entries)
	for _, e := range entries {
		enc := zapcore.NewMapObjectEncoder()
		for _, f := range e.Context {
			f.AddTo(enc)
		}
		line := e.Message + fmt.Sprint(enc.Fields)
		require.NotContains(t, line, canary)
		require.NotContains(t, line, "access-token-")
		require.False(t, strings.Contains(strings.ToLower(line), "bearer "), line)
	}

	spans := rec.Ended()
	require.GreaterOrEqual(t, len(spans), 6, "every call and token fetch left a span")
	var failed int
	for _, s := range spans {
		text := spanText(s)
		require.NotContains(t, text, canary)
		require.NotContains(t, text, "access-token-")
		require.False(t, strings.Contains(strings.ToLower(text), "bearer "), text)
		if s.Status().Code == codes.Error {
			failed++
		}
	}
	require.GreaterOrEqual(t, failed, 4, "the failures' messages were on the spans")
}
