package httpserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

// running is a server serving on a loopback port in a goroutine.
type running struct {
	srv    *Server
	base   string
	cancel context.CancelFunc
	done   chan error
	client *http.Client
}

// start builds a server with opts (Addr forced to an ephemeral loopback
// port), lets routes add handlers, and serves it until the test ends.
func start(t *testing.T, opts Options, routes func(app *fiber.App)) *running {
	t.Helper()
	opts.Addr = "127.0.0.1:0"
	if opts.Name == "" {
		opts.Name = "testsvc"
	}
	srv, err := New(opts)
	require.NoError(t, err)
	if routes != nil {
		routes(srv.App())
	}
	ln, err := srv.Listen()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{
		srv: srv, base: "http://" + ln.Addr().String(), cancel: cancel,
		done: make(chan error, 1), client: &http.Client{Timeout: 5 * time.Second},
	}
	go func() { r.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(15 * time.Second):
			t.Error("server did not stop within 15s of cancel")
		}
	})
	return r
}

func (r *running) do(t *testing.T, method, path string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, r.base+path, nil)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := r.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

func (r *running) get(t *testing.T, path string) (*http.Response, []byte) {
	t.Helper()
	return r.do(t, http.MethodGet, path, nil)
}

func decodeErrorBody(t *testing.T, body []byte) ErrorDetail {
	t.Helper()
	var eb ErrorBody
	require.NoError(t, json.Unmarshal(body, &eb), "body: %s", body)
	return eb.Error
}

func TestNewRejectsEmptyAddr(t *testing.T) {
	_, err := New(Options{Name: "x"})
	require.ErrorContains(t, err, "listen address is empty")
}

func TestNewRejectsRegistryUsedTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, err := New(Options{Addr: "127.0.0.1:0", Registry: reg})
	require.NoError(t, err)
	_, err = New(Options{Addr: "127.0.0.1:0", Registry: reg})
	require.ErrorContains(t, err, "http server: register metrics")
}

func TestHealthz(t *testing.T) {
	r := start(t, Options{Name: "orders"}, nil)
	resp, body := r.get(t, "/healthz")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "application/json")
	require.JSONEq(t, `{"status":"ok","service":"orders"}`, string(body))
	require.NotEmpty(t, resp.Header.Get("X-Request-ID"), "every response carries a request id")
}

func TestReadyz(t *testing.T) {
	// Set by the test, read by the server's goroutines: atomics, not plain vars.
	var dbErr atomic.Pointer[error]
	var sawDeadline atomic.Bool
	r := start(t, Options{ReadyChecks: []Check{
		{Name: "db", Fn: func(ctx context.Context) error {
			_, ok := ctx.Deadline()
			sawDeadline.Store(ok)
			if e := dbErr.Load(); e != nil {
				return *e
			}
			return nil
		}},
		{Name: "cache", Fn: func(context.Context) error { return nil }},
	}}, nil)

	resp, body := r.get(t, "/readyz")
	require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", body)
	require.JSONEq(t, `{"status":"ready","checks":{"db":"ok","cache":"ok"}}`, string(body))
	require.True(t, sawDeadline.Load(), "checks run under a bounded context")

	e := errors.New("connection refused by db:5432")
	dbErr.Store(&e)
	resp, body = r.get(t, "/readyz")
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.JSONEq(t, `{"status":"not ready","checks":{"db":"connection refused by db:5432","cache":"ok"}}`, string(body))
}

func TestAddReadyCheckAfterStart(t *testing.T) {
	r := start(t, Options{}, nil)
	resp, body := r.get(t, "/readyz")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.JSONEq(t, `{"status":"ready","checks":{}}`, string(body))

	r.srv.AddReadyCheck(Check{Name: "dapr_sidecar", Fn: func(context.Context) error {
		return errors.New("sidecar not up")
	}})
	resp, body = r.get(t, "/readyz")
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.JSONEq(t, `{"status":"not ready","checks":{"dapr_sidecar":"sidecar not up"}}`, string(body))
}

func TestMetricsUseRouteTemplate(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := start(t, Options{Registry: reg}, func(app *fiber.App) {
		app.Get("/things/:id", func(c *fiber.Ctx) error { return c.SendString("thing " + c.Params("id")) })
	})
	for _, id := range []string{"42", "43", "44"} {
		resp, body := r.get(t, "/things/"+id)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "thing "+id, string(body))
	}

	resp, body := r.get(t, "/metrics")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	text := string(body)
	require.Contains(t, text, `secure_agent_http_request_duration_seconds_count{code="200",method="GET",route="/things/:id"} 3`)
	require.NotContains(t, text, `route="/things/42"`, "raw paths must not become labels")

	// The same value straight from the registry.
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var count uint64
	for _, mf := range mfs {
		if mf.GetName() != "secure_agent_http_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == "/things/:id" && labels["method"] == "GET" && labels["code"] == "200" {
				count = m.GetHistogram().GetSampleCount()
			}
		}
	}
	require.Equal(t, uint64(3), count)
}

func TestErrorResponses(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := start(t, Options{Registry: reg}, func(app *fiber.App) {
		app.Get("/panic", func(c *fiber.Ctx) error { panic("boom: secret internals") })
		app.Get("/missing", func(c *fiber.Ctx) error { return errkind.New(errkind.NotFound, "x") })
		app.Get("/invalid", func(c *fiber.Ctx) error {
			return errkind.New(errkind.Invalid, "field name is required")
		})
		app.Get("/transient", func(c *fiber.Ctx) error {
			return errkind.Wrap(errkind.Transient, errors.New("db down"), "load job")
		})
		app.Get("/plain", func(c *fiber.Ctx) error { return errors.New("leaky detail") })
	})

	const internalMsg = "internal error; the service log has details under this request id"
	tests := []struct {
		path       string
		wantStatus int
		wantKind   string
		wantMsg    string
	}{
		{"/panic", http.StatusInternalServerError, "internal", internalMsg},
		{"/missing", http.StatusNotFound, "not_found", "x"},
		{"/invalid", http.StatusBadRequest, "invalid", "field name is required"},
		{"/transient", http.StatusServiceUnavailable, "transient", "load job: db down"},
		{"/plain", http.StatusInternalServerError, "internal", internalMsg},
		{"/no/such/route", http.StatusNotFound, "not_found", "Cannot GET /no/such/route"},
	}
	for _, tt := range tests {
		t.Run(strings.TrimPrefix(tt.path, "/"), func(t *testing.T) {
			resp, body := r.get(t, tt.path)
			require.Equal(t, tt.wantStatus, resp.StatusCode, "body: %s", body)
			require.Contains(t, resp.Header.Get("Content-Type"), "application/json")
			rid := resp.Header.Get("X-Request-ID")
			require.NotEmpty(t, rid)
			d := decodeErrorBody(t, body)
			require.Equal(t, tt.wantKind, d.Kind)
			require.Equal(t, tt.wantMsg, d.Message)
			require.Equal(t, rid, d.RequestID, "body quotes the response's request id")
			require.NotContains(t, string(body), "secret internals")
			require.NotContains(t, string(body), "leaky detail")
		})
	}

	// The panic did not take the server down.
	resp, _ := r.get(t, "/healthz")
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestIncomingRequestIDIsKept(t *testing.T) {
	r := start(t, Options{}, func(app *fiber.App) {
		app.Get("/fail", func(c *fiber.Ctx) error { return errkind.New(errkind.Conflict, "exists") })
	})
	resp, body := r.do(t, http.MethodGet, "/fail", map[string]string{"X-Request-ID": "req-123"})
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	require.Equal(t, "req-123", resp.Header.Get("X-Request-ID"))
	d := decodeErrorBody(t, body)
	require.Equal(t, ErrorDetail{Kind: "conflict", Message: "exists", RequestID: "req-123"}, d)
}

func TestTraceparentContinuesTrace(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	const (
		traceID  = "4bf92f3577b34da6a3ce929d0e0e4736"
		parentID = "00f067aa0ba902b7"
	)
	handlerTrace := make(chan string, 1)
	r := start(t, Options{TracerProvider: tp, Propagator: propagation.TraceContext{}}, func(app *fiber.App) {
		app.Get("/things/:id", func(c *fiber.Ctx) error {
			handlerTrace <- trace.SpanContextFromContext(c.UserContext()).TraceID().String()
			return c.SendStatus(http.StatusNoContent)
		})
	})
	resp, _ := r.do(t, http.MethodGet, "/things/42", map[string]string{
		"traceparent": "00-" + traceID + "-" + parentID + "-01",
	})
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Equal(t, traceID, <-handlerTrace, "handler context carries the caller's trace")

	var server []sdktrace.ReadOnlySpan
	for _, s := range sr.Ended() {
		if s.SpanKind() == trace.SpanKindServer {
			server = append(server, s)
		}
	}
	require.Len(t, server, 1)
	s := server[0]
	require.Equal(t, traceID, s.SpanContext().TraceID().String())
	require.Equal(t, parentID, s.Parent().SpanID().String())
	require.True(t, s.Parent().IsRemote())
	require.Equal(t, "GET /things/:id", s.Name())
	attrs := map[string]any{}
	for _, kv := range s.Attributes() {
		attrs[string(kv.Key)] = kv.Value.AsInterface()
	}
	require.Equal(t, "/things/:id", attrs["http.route"])
	require.Equal(t, int64(http.StatusNoContent), attrs["http.response.status_code"])
}

func TestTraceWithoutTraceparentStartsNewTrace(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	r := start(t, Options{TracerProvider: tp}, func(app *fiber.App) {
		app.Get("/err", func(c *fiber.Ctx) error { return errkind.New(errkind.Invalid, "bad") })
	})
	resp, _ := r.get(t, "/err")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	ended := sr.Ended()
	require.Len(t, ended, 1)
	require.True(t, ended[0].SpanContext().TraceID().IsValid())
	require.False(t, ended[0].Parent().IsValid(), "no caller trace: a root span")
	require.Equal(t, "Error", ended[0].Status().Code.String(), "handler error marks the span")
}

func TestServeReturnsNilAfterCancel(t *testing.T) {
	srv, err := New(Options{Name: "x", Addr: "127.0.0.1:0", ShutdownTimeout: 2 * time.Second})
	require.NoError(t, err)
	ln, err := srv.Listen()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	// Make sure it really serves (leaving an idle keep-alive connection).
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + ln.Addr().String() + "/healthz")
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(2*time.Second + 3*time.Second):
		t.Fatal("Serve did not return within ShutdownTimeout (+3s slack) after cancel")
	}
	// The port is released.
	_, err = net.DialTimeout("tcp", ln.Addr().String(), time.Second)
	require.Error(t, err)
}

func TestListenOnBusyPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { busy.Close() })
	addr := busy.Addr().String()

	srv, err := New(Options{Name: "x", Addr: addr})
	require.NoError(t, err)
	ln, err := srv.Listen()
	require.Nil(t, ln)
	require.Error(t, err)
	require.Contains(t, err.Error(), addr)
	require.Contains(t, err.Error(), "_PORT")
}

// Handlers keep request strings (job ids) in maps and loggers past the
// request; fasthttp reuses the memory of unsafe strings, so they must be
// copies.
func TestPathParametersOutliveTheRequest(t *testing.T) {
	var kept []string
	r := start(t, Options{}, func(app *fiber.App) {
		app.Get("/jobs/:id", func(c *fiber.Ctx) error {
			kept = append(kept, c.Params("id")) // handlers run one at a time here
			return c.SendString("ok")
		})
	})
	want := []string{"job-aaaaaaaa", "job-bbbbbbbb", "job-cccccccc", "job-dddddddd"}
	for _, id := range want {
		resp, _ := r.get(t, "/jobs/"+id)
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	require.Equal(t, want, kept)
}
