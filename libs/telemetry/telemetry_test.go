package telemetry

import (
	"context"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/secure-agent/secure-agent/libs/metricdef"
)

func setup(t *testing.T, opts Options) (*Telemetry, func(context.Context) error) {
	t.Helper()
	tel, shutdown, err := Setup(context.Background(), opts)
	require.NoError(t, err)
	require.NotNil(t, tel)
	t.Cleanup(func() { _ = shutdown(context.Background()) })
	return tel, shutdown
}

var traceparentRe = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$`)

func TestSetupWithoutEndpoint(t *testing.T) {
	tel, shutdown := setup(t, Options{Service: "extractor", Version: "1.2.3", SampleRatio: 1})

	ctx, span := tel.Tracer("test").Start(context.Background(), "extract")
	sc := span.SpanContext()
	require.True(t, sc.IsValid())
	require.True(t, sc.TraceID().IsValid())
	require.True(t, sc.IsSampled(), "ratio 1 must sample")
	span.End()

	// Round-trip through a carrier the way a Dapr/HTTP hop would.
	member, err := baggage.NewMember("tenant", "acme")
	require.NoError(t, err)
	bag, err := baggage.New(member)
	require.NoError(t, err)
	ctx = baggage.ContextWithBaggage(ctx, bag)

	carrier := propagation.MapCarrier{}
	tel.Propagator.Inject(ctx, carrier)
	m := traceparentRe.FindStringSubmatch(carrier.Get("traceparent"))
	require.NotNil(t, m, "traceparent %q", carrier.Get("traceparent"))
	require.Equal(t, sc.TraceID().String(), m[1])
	require.Equal(t, sc.SpanID().String(), m[2])
	require.Equal(t, "tenant=acme", carrier.Get("baggage"))

	out := tel.Propagator.Extract(context.Background(), carrier)
	remote := trace.SpanContextFromContext(out)
	require.True(t, remote.IsRemote())
	require.Equal(t, sc.TraceID(), remote.TraceID())
	require.Equal(t, sc.SpanID(), remote.SpanID())
	require.Equal(t, "acme", baggage.FromContext(out).Member("tenant").Value())

	// A child of the extracted context continues the same trace.
	_, child := tel.Tracer("test").Start(out, "publish")
	require.Equal(t, sc.TraceID(), child.SpanContext().TraceID())
	require.NotEqual(t, sc.SpanID(), child.SpanContext().SpanID())
	child.End()

	require.NoError(t, shutdown(context.Background()))
	require.NoError(t, shutdown(context.Background()), "second shutdown must be harmless")
}

func TestSamplerIsParentBased(t *testing.T) {
	tel, _ := setup(t, Options{Service: "svc", SampleRatio: 0})

	_, root := tel.Tracer("t").Start(context.Background(), "root")
	require.True(t, root.SpanContext().TraceID().IsValid(), "unsampled spans still carry ids")
	require.False(t, root.SpanContext().IsSampled(), "ratio 0 must not sample new traces")
	root.End()

	// An upstream service that sampled must win over our ratio.
	carrier := propagation.MapCarrier{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	ctx := tel.Propagator.Extract(context.Background(), carrier)
	_, child := tel.Tracer("t").Start(ctx, "child")
	require.True(t, child.SpanContext().IsSampled())
	require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", child.SpanContext().TraceID().String())
	child.End()
}

func TestRegistry(t *testing.T) {
	tests := []struct {
		name        string
		version     string
		wantVersion string
	}{
		{name: "with version", version: "1.2.3", wantVersion: "1.2.3"},
		{name: "without version", version: "", wantVersion: "unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tel, _ := setup(t, Options{Service: "orchestrator", Version: tc.version, SampleRatio: 1})
			families, err := tel.Registry.Gather()
			require.NoError(t, err)

			names := map[string]bool{}
			var goCount, processCount int
			for _, mf := range families {
				names[mf.GetName()] = true
				if strings.HasPrefix(mf.GetName(), "go_") {
					goCount++
				}
				if strings.HasPrefix(mf.GetName(), "process_") {
					processCount++
				}
			}
			require.True(t, names["go_goroutines"], "go collector missing")
			require.Positive(t, goCount)
			if runtime.GOOS == "linux" {
				require.True(t, names["process_cpu_seconds_total"], "process collector missing")
				require.True(t, names["process_resident_memory_bytes"])
				require.Positive(t, processCount)
			}

			var found bool
			for _, mf := range families {
				if mf.GetName() != metricdef.BuildInfo.Name {
					continue
				}
				found = true
				require.Len(t, mf.GetMetric(), 1)
				metric := mf.GetMetric()[0]
				labels := map[string]string{}
				for _, lp := range metric.GetLabel() {
					labels[lp.GetName()] = lp.GetValue()
				}
				require.Equal(t, map[string]string{"service": "orchestrator", "version": tc.wantVersion, "goversion": runtime.Version()}, labels)
				require.Equal(t, 1.0, metric.GetGauge().GetValue())
			}
			require.True(t, found, "%s not gathered", metricdef.BuildInfo.Name)
		})
	}
}

func TestRegistriesAreIndependent(t *testing.T) {
	// Two Setups in one process must not collide on registration, which
	// they would if either used the default registerer.
	a, _ := setup(t, Options{Service: "a", SampleRatio: 1})
	b, _ := setup(t, Options{Service: "b", SampleRatio: 1})
	require.NotSame(t, a.Registry, b.Registry)
}

func TestSetupInvalidOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"negative ratio", Options{Service: "s", SampleRatio: -0.1}, "sample ratio -0.1 out of range"},
		{"ratio above one", Options{Service: "s", SampleRatio: 1.5}, "sample ratio 1.5 out of range"},
		{"NaN ratio", Options{Service: "s", SampleRatio: math.NaN()}, "sample ratio NaN out of range"},
		{"unknown protocol", Options{Service: "s", SampleRatio: 1, OTLPProtocol: "http/json"}, `unsupported OTLP protocol "http/json"`},
		{"missing service", Options{SampleRatio: 1}, "service name is required"},
		{"bad scheme", Options{Service: "s", SampleRatio: 1, OTLPEndpoint: "ftp://collector:4317"}, `scheme "ftp"`},
		{"https with insecure", Options{Service: "s", SampleRatio: 1, OTLPEndpoint: "https://c:4318", OTLPInsecure: true}, "is https but OTLPInsecure"},
		{"userinfo", Options{Service: "s", SampleRatio: 1, OTLPEndpoint: "http://u:pw@c:4318"}, "must not contain userinfo"},
		{"path without scheme", Options{Service: "s", SampleRatio: 1, OTLPEndpoint: "c:4318/v1/traces"}, "want host:port or a URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tel, shutdown, err := Setup(context.Background(), tc.opts)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.wantErr)
			require.Nil(t, tel)
			require.Nil(t, shutdown)
			require.NotContains(t, err.Error(), "pw@", "errors must not echo credentials")
		})
	}
}

type received struct {
	method, path, contentType string
	body                      []byte
}

// collector is a loopback OTLP/HTTP receiver that records every request.
type collector struct {
	mu   sync.Mutex
	reqs []received
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.reqs = append(c.reqs, received{method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"), body: body})
	c.mu.Unlock()
	resp, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

func (c *collector) requests() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]received(nil), c.reqs...)
}

// spanNamesAndService decodes an OTLP export request.
func spanNamesAndService(t *testing.T, req *coltracepb.ExportTraceServiceRequest) ([]string, string) {
	t.Helper()
	var names []string
	var service string
	for _, rs := range req.GetResourceSpans() {
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				names = append(names, s.GetName())
			}
		}
	}
	return names, service
}

func TestOTLPHTTPExportOnShutdown(t *testing.T) {
	tests := []struct {
		name     string
		endpoint func(srvURL string) string
		insecure bool
		wantPath string
	}{
		{name: "base URL gets signal path", endpoint: func(u string) string { return u }, wantPath: "/v1/traces"},
		{name: "explicit path kept", endpoint: func(u string) string { return u + "/otlp/v1/traces" }, wantPath: "/otlp/v1/traces"},
		{name: "host:port with insecure", endpoint: func(u string) string { return strings.TrimPrefix(u, "http://") }, insecure: true, wantPath: "/v1/traces"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			col := &collector{}
			srv := httptest.NewServer(col) // listens on 127.0.0.1
			defer srv.Close()

			tel, shutdown, err := Setup(context.Background(), Options{
				Service:      "extractor",
				Version:      "0.0.1",
				OTLPEndpoint: tc.endpoint(srv.URL),
				OTLPProtocol: ProtocolHTTP,
				OTLPInsecure: tc.insecure,
				SampleRatio:  1,
			})
			require.NoError(t, err)

			_, span := tel.Tracer("test").Start(context.Background(), "extract-schema")
			span.End()
			require.Empty(t, col.requests(), "batcher should not have exported before shutdown")

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, shutdown(ctx))
			require.NoError(t, shutdown(ctx))

			reqs := col.requests()
			require.Len(t, reqs, 1)
			require.Equal(t, http.MethodPost, reqs[0].method)
			require.Equal(t, tc.wantPath, reqs[0].path)
			require.Equal(t, "application/x-protobuf", reqs[0].contentType)

			var export coltracepb.ExportTraceServiceRequest
			require.NoError(t, proto.Unmarshal(reqs[0].body, &export))
			names, service := spanNamesAndService(t, &export)
			require.Equal(t, []string{"extract-schema"}, names)
			require.Equal(t, "extractor", service)
		})
	}
}

type grpcCollector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu   sync.Mutex
	reqs []*coltracepb.ExportTraceServiceRequest
}

func (g *grpcCollector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reqs = append(g.reqs, req)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func TestOTLPGRPCExportOnShutdown(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	col := &grpcCollector{}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, col)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	tel, shutdown, err := Setup(context.Background(), Options{
		Service:      "publisher",
		OTLPEndpoint: lis.Addr().String(),
		OTLPInsecure: true, // protocol left empty: grpc is the default
		SampleRatio:  1,
	})
	require.NoError(t, err)

	_, span := tel.Tracer("test").Start(context.Background(), "publish")
	span.End()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, shutdown(ctx))

	col.mu.Lock()
	defer col.mu.Unlock()
	require.Len(t, col.reqs, 1)
	names, service := spanNamesAndService(t, col.reqs[0])
	require.Equal(t, []string{"publish"}, names)
	require.Equal(t, "publisher", service)
}
