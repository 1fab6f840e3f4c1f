package controlplane

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// traced gives the harness a recording tracer provider.
func (h *harness) traced() *tracetest.SpanRecorder {
	rec := tracetest.NewSpanRecorder()
	h.opts.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	return rec
}

func attrs(s sdktrace.ReadOnlySpan) map[string]string {
	out := map[string]string{}
	for _, a := range s.Attributes() {
		out[string(a.Key)] = a.Value.Emit()
	}
	return out
}

// spanText is everything a span exports as text: name, attributes, status
// and events with their attributes.
func spanText(s sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	b.WriteString(s.Name() + " " + s.Status().Description)
	for _, a := range s.Attributes() {
		fmt.Fprintf(&b, " %s=%s", a.Key, a.Value.Emit())
	}
	for _, e := range s.Events() {
		b.WriteString(" " + e.Name)
		for _, a := range e.Attributes {
			fmt.Fprintf(&b, " %s=%s", a.Key, a.Value.Emit())
		}
	}
	return b.String()
}

func spansNamed(rec *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func TestCallsAreClientSpans(t *testing.T) {
	h := newHarness(t, "secret-x")
	rec := h.traced()
	c := h.client(t)
	ctx, root := h.opts.TracerProvider.Tracer("test").Start(context.Background(), "caller")

	require.NoError(t, c.Heartbeat(ctx, okHeartbeat))
	_, err := c.RenewLease(ctx, "lease-secretive-42")
	require.NoError(t, err)
	body := []byte("arrow bytes")
	sum := sha256.Sum256(body)
	sha := hex.EncodeToString(sum[:])
	_, err = c.IngestFile(ctx, "job-7", sha, "p000/table-000.arrows", "table", 1, body)
	require.NoError(t, err)
	has, err := c.HasFile(ctx, "job-7", sha)
	require.NoError(t, err)
	require.True(t, has)
	missing := sha256.Sum256([]byte("other"))
	has, err = c.HasFile(ctx, "job-7", hex.EncodeToString(missing[:]))
	require.NoError(t, err)
	require.False(t, has)
	root.End()

	_, port, err := net.SplitHostPort(h.cp.srv.Listener.Addr().String())
	require.NoError(t, err)
	want := []struct{ name, method, template, op string }{
		{"POST /token", http.MethodPost, "/token", opToken},
		{"POST /api/agent/v1/heartbeat", http.MethodPost, "/api/agent/v1/heartbeat", opHeartbeat},
		{"POST /api/agent/v1/leases/{lease_id}/renew", http.MethodPost, "/api/agent/v1/leases/{lease_id}/renew", opRenew},
		{"PUT /api/agent/v1/jobs/{job_id}/files/{sha256}", http.MethodPut, "/api/agent/v1/jobs/{job_id}/files/{sha256}", opIngestFile},
	}
	for _, w := range want {
		spans := spansNamed(rec, w.name)
		require.Len(t, spans, 1, w.name)
		s := spans[0]
		a := attrs(s)
		require.Equal(t, trace.SpanKindClient, s.SpanKind(), w.name)
		require.Equal(t, w.method, a["http.request.method"], w.name)
		require.Equal(t, "127.0.0.1", a["server.address"], w.name)
		require.Equal(t, port, a["server.port"], w.name)
		require.Equal(t, w.template, a["url.template"], w.name)
		require.Equal(t, w.op, a["secure_agent.controlplane.operation"], w.name)
		require.NotEqual(t, codes.Error, s.Status().Code, w.name)
		require.NotEmpty(t, a["http.response.status_code"], w.name)
		require.Equal(t, root.SpanContext().TraceID(), s.SpanContext().TraceID(), w.name)
		text := spanText(s)
		require.NotContains(t, text, "lease-secretive-42", "lease ids stay out of spans")
		require.NotContains(t, text, "secret-x")
		require.NotContains(t, text, "access-token-")
		require.NotContains(t, text, "agent_id=", "no query string")
	}
	api := spansNamed(rec, "POST /api/agent/v1/heartbeat")[0]
	require.Equal(t, root.SpanContext().SpanID(), api.Parent().SpanID())
	require.Equal(t, api.SpanContext().SpanID(), spansNamed(rec, "POST /token")[0].Parent().SpanID(),
		"the token was fetched for the first call")
	require.Equal(t, "job-7", attrs(spansNamed(rec, want[3].name)[0])["secure_agent.job.id"])
	heads := spansNamed(rec, "HEAD /api/agent/v1/jobs/{job_id}/files/{sha256}")
	require.Len(t, heads, 2)
	var codesSeen []string
	for _, s := range heads {
		require.NotEqual(t, codes.Error, s.Status().Code, "a missing file answers hasFile; it is no failure")
		codesSeen = append(codesSeen, attrs(s)["http.response.status_code"])
	}
	require.ElementsMatch(t, []string{"200", "404"}, codesSeen)
	require.Equal(t, 4, testutil.CollectAndCount(c.metrics.duration), "one duration series per operation called")
}

func TestRetriesAreEventsOnOneSpan(t *testing.T) {
	h := newHarness(t, "secret-x")
	rec := h.traced()
	h.cp.push("POST /heartbeat", scripted{status: http.StatusServiceUnavailable}, scripted{drop: true})
	c := h.client(t)

	require.NoError(t, c.Heartbeat(context.Background(), okHeartbeat))
	spans := spansNamed(rec, "POST /api/agent/v1/heartbeat")
	require.Len(t, spans, 1, "one span per call, retries included")
	s := spans[0]
	require.Equal(t, "2", attrs(s)["http.request.resend_count"])
	require.Equal(t, "204", attrs(s)["http.response.status_code"])
	var retries []string
	for _, e := range s.Events() {
		if e.Name == "retry" {
			for _, a := range e.Attributes {
				if a.Key == "secure_agent.controlplane.retry_reason" {
					retries = append(retries, a.Value.AsString())
				}
			}
		}
	}
	require.Equal(t, []string{"status 503", "connection failed"}, retries)
}

func TestFailedCallSpanHasErrorType(t *testing.T) {
	h := newHarness(t, "secret-x")
	rec := h.traced()
	c := h.client(t)

	_, err := c.RenewLease(context.Background(), "lost")
	require.Error(t, err)
	s := spansNamed(rec, "POST /api/agent/v1/leases/{lease_id}/renew")
	require.Len(t, s, 1)
	require.Equal(t, codes.Error, s[0].Status().Code)
	require.Equal(t, "409", attrs(s[0])["error.type"])
	require.Equal(t, "409", attrs(s[0])["http.response.status_code"])
}

func TestAuthFailuresByReason(t *testing.T) {
	h := newHarness(t, "secret-x")
	h.opts.MaxRetries = 0
	c := h.client(t)
	ctx := context.Background()
	failures := func(reason string) float64 {
		return testutil.ToFloat64(c.metrics.authFailures.WithLabelValues(reason))
	}
	require.Equal(t, 3, testutil.CollectAndCount(c.metrics.authFailures), "every reason exists before the first failure")

	// A 401 answered by fetching a fresh token that works is no failure.
	require.NoError(t, c.Heartbeat(ctx, okHeartbeat))
	h.cp.rotate("secret-x") // revokes the token; the secret stays
	require.NoError(t, c.Heartbeat(ctx, okHeartbeat))
	require.Zero(t, failures(authUnauthorized))

	h.cp.push("POST /heartbeat", scripted{status: http.StatusForbidden})
	require.Error(t, c.Heartbeat(ctx, okHeartbeat))
	require.Equal(t, 1.0, failures(authForbidden))

	h.cp.set(func(f *fakeControlPlane) { f.rejectAPI = true })
	require.Error(t, c.Heartbeat(ctx, okHeartbeat))
	require.Equal(t, 1.0, failures(authUnauthorized), "the API refused a fresh token")

	h.cp.set(func(f *fakeControlPlane) { f.rejectAPI = false })
	h.cp.rotate("secret-only-the-server-knows")
	require.Error(t, c.Heartbeat(ctx, okHeartbeat))
	require.Equal(t, 1.0, failures(authTokenRejected))
	require.Equal(t, 1.0, failures(authForbidden))
	require.Equal(t, 1.0, failures(authUnauthorized))
}
