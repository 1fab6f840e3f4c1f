package daprclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// A service invocation is a client span whose context reaches the sidecar
// as traceparent: daprd continues it to the callee, so an invoked app's
// work stays in the caller's trace.
func TestInvokeCarriesTheTrace(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1.0/healthz/outbound":
			w.WriteHeader(http.StatusNoContent)
		case "/v1.0/metadata":
			_, _ = w.Write([]byte(`{"id":"orchestrator"}`))
		default:
			mu.Lock()
			got = append(got, r.Header.Get("traceparent"))
			mu.Unlock()
			_, _ = w.Write([]byte(`{}`))
		}
	}))
	t.Cleanup(srv.Close)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	s, err := Connect(context.Background(), Options{AppID: "orchestrator", HTTPPort: portOf(t, srv), GRPCPort: freePort(t),
		WaitTimeout: 10 * time.Second, TracerProvider: tp})
	require.NoError(t, err)
	t.Cleanup(s.Close)

	ctx, parent := tp.Tracer("test").Start(context.Background(), "activity")
	require.NoError(t, s.InvokeJSON(ctx, "extractor", http.MethodPost, "v1/preflight", map[string]string{"a": "b"}, nil))
	_, err = s.Invoke(ctx, "extractor", http.MethodGet, "/healthz")
	require.NoError(t, err)
	parent.End()

	var invokes []sdktrace.ReadOnlySpan
	for _, sp := range rec.Ended() {
		if sp.SpanKind() == trace.SpanKindClient {
			invokes = append(invokes, sp)
		}
	}
	require.Len(t, invokes, 2)
	require.Equal(t, "invoke extractor POST /v1/preflight", invokes[0].Name())
	require.Len(t, got, 2)
	for i, sp := range invokes {
		require.Equal(t, parent.SpanContext().SpanID(), sp.Parent().SpanID())
		require.Equal(t, "00-"+sp.SpanContext().TraceID().String()+"-"+sp.SpanContext().SpanID().String()+"-01", got[i])
	}
}
