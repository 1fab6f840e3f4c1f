// Package telemetry sets up tracing and Prometheus metrics for one
// secure-agent process.
//
// Nothing here touches OpenTelemetry or Prometheus globals: the caller gets a
// Telemetry value and passes its provider, propagator and registry to the
// components that need them, so tests and multiple services in one binary
// never share hidden state.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"runtime"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/secure-agent/secure-agent/libs/metricdef"
)

// Protocols accepted in Options.OTLPProtocol.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// Options configures Setup. There are no hidden defaults from environment
// variables for the fields below; the caller (usually config loading)
// decides them.
type Options struct {
	// Service is the service.name resource attribute and build_info label.
	// Required: unattributed spans are useless in a shared collector.
	Service string
	// Version is the service.version attribute and build_info label.
	Version string
	// OTLPEndpoint is the collector address, "host:port" or a URL such as
	// "http://otel-collector:4318". Empty means no exporter: spans are still
	// created (so trace ids propagate to downstream services) but not sent.
	// For http/protobuf a URL without a path gets the standard "/v1/traces".
	OTLPEndpoint string
	// OTLPProtocol is "grpc" (default when empty) or "http/protobuf".
	OTLPProtocol string
	// OTLPInsecure sends plaintext, for a collector sidecar on localhost.
	// An "http://" endpoint URL implies it.
	OTLPInsecure bool
	// SampleRatio is the fraction of new traces sampled, 0..1. It is used as
	// given: 0 samples nothing, so callers must set their own default.
	// Remote parents' decisions are always honoured.
	SampleRatio float64
}

// Telemetry holds the per-process observability handles.
type Telemetry struct {
	TracerProvider trace.TracerProvider
	// Propagator carries W3C tracecontext and baggage across Dapr/HTTP/gRPC
	// hops.
	Propagator propagation.TextMapPropagator
	// Registry holds Go runtime, process and build_info collectors; serve it
	// with promhttp.HandlerFor.
	Registry *prometheus.Registry
}

// Tracer returns a named tracer from the process's provider.
func (t *Telemetry) Tracer(name string) trace.Tracer {
	return t.TracerProvider.Tracer(name)
}

// Setup builds tracing and metrics for the process. The returned shutdown
// func flushes pending spans and stops the exporter; it is safe to call more
// than once (later calls return the first call's result).
func Setup(ctx context.Context, opts Options) (*Telemetry, func(context.Context) error, error) {
	if err := validate(&opts); err != nil {
		return nil, nil, err
	}

	reg, err := newRegistry(opts)
	if err != nil {
		return nil, nil, err
	}

	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(resourceAttrs(opts)...),
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("telemetry: build resource: %w", err)
	}

	tpOpts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(opts.SampleRatio))),
	}
	if opts.OTLPEndpoint != "" {
		exp, err := newExporter(ctx, opts)
		if err != nil {
			return nil, nil, err
		}
		// Batching keeps export I/O off the request path.
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)

	var (
		once        sync.Once
		shutdownErr error
	)
	shutdown := func(ctx context.Context) error {
		once.Do(func() {
			if err := tp.Shutdown(ctx); err != nil {
				shutdownErr = fmt.Errorf("telemetry: shutdown tracer provider: %w", err)
			}
		})
		return shutdownErr
	}

	return &Telemetry{
		TracerProvider: tp,
		Propagator:     propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		Registry:       reg,
	}, shutdown, nil
}

func validate(opts *Options) error {
	var errs []error
	if strings.TrimSpace(opts.Service) == "" {
		errs = append(errs, errors.New("service name is required"))
	}
	// NaN fails both comparisons, hence the explicit check.
	if math.IsNaN(opts.SampleRatio) || opts.SampleRatio < 0 || opts.SampleRatio > 1 {
		errs = append(errs, fmt.Errorf("sample ratio %v out of range [0, 1]", opts.SampleRatio))
	}
	switch opts.OTLPProtocol {
	case "":
		opts.OTLPProtocol = ProtocolGRPC
	case ProtocolGRPC, ProtocolHTTP:
	default:
		errs = append(errs, fmt.Errorf("unsupported OTLP protocol %q (accepted: %q, %q)", opts.OTLPProtocol, ProtocolGRPC, ProtocolHTTP))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("telemetry: invalid options: %w", err)
	}
	return nil
}

func resourceAttrs(opts Options) []attribute.KeyValue {
	attrs := []attribute.KeyValue{semconv.ServiceName(opts.Service)}
	if opts.Version != "" {
		attrs = append(attrs, semconv.ServiceVersion(opts.Version))
	}
	return attrs
}

func newRegistry(opts Options) (*prometheus.Registry, error) {
	version := opts.Version
	if version == "" {
		// An empty label value is indistinguishable from a missing label in
		// PromQL; make the gap visible instead.
		version = "unknown"
	}
	buildInfo := metricdef.BuildInfo.GaugeVec()
	buildInfo.WithLabelValues(opts.Service, version, runtime.Version()).Set(1)

	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("telemetry: register collector: %w", err)
		}
	}
	return reg, nil
}

// endpoint is OTLPEndpoint split into the parts both exporters accept.
type endpoint struct {
	hostPort string
	path     string // "" when none was given
	insecure bool
}

func parseEndpoint(opts Options) (endpoint, error) {
	raw := strings.TrimSpace(opts.OTLPEndpoint)
	if !strings.Contains(raw, "://") {
		if raw == "" || strings.ContainsAny(raw, "/?#") {
			return endpoint{}, fmt.Errorf("telemetry: OTLP endpoint %q: want host:port or a URL", opts.OTLPEndpoint)
		}
		return endpoint{hostPort: raw, insecure: opts.OTLPInsecure}, nil
	}
	// Parse here rather than via the exporters' WithEndpointURL, which only
	// reports a bad URL to the global error handler and carries on.
	u, err := url.Parse(raw)
	if err != nil {
		return endpoint{}, fmt.Errorf("telemetry: OTLP endpoint: %w", err)
	}
	if u.Host == "" {
		return endpoint{}, fmt.Errorf("telemetry: OTLP endpoint %q has no host", opts.OTLPEndpoint)
	}
	if u.User != nil {
		// Credentials in the URL would end up in error messages and logs.
		return endpoint{}, errors.New("telemetry: OTLP endpoint must not contain userinfo")
	}
	switch u.Scheme {
	case "http":
		return endpoint{hostPort: u.Host, path: strings.TrimSuffix(u.Path, "/"), insecure: true}, nil
	case "https":
		if opts.OTLPInsecure {
			return endpoint{}, fmt.Errorf("telemetry: OTLP endpoint %q is https but OTLPInsecure is set", opts.OTLPEndpoint)
		}
		return endpoint{hostPort: u.Host, path: strings.TrimSuffix(u.Path, "/")}, nil
	default:
		return endpoint{}, fmt.Errorf("telemetry: OTLP endpoint scheme %q: want http or https", u.Scheme)
	}
}

func newExporter(ctx context.Context, opts Options) (sdktrace.SpanExporter, error) {
	ep, err := parseEndpoint(opts)
	if err != nil {
		return nil, err
	}
	var exp sdktrace.SpanExporter
	switch opts.OTLPProtocol {
	case ProtocolHTTP:
		path := ep.path
		if path == "" {
			path = "/v1/traces"
		}
		httpOpts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(ep.hostPort), otlptracehttp.WithURLPath(path)}
		if ep.insecure {
			httpOpts = append(httpOpts, otlptracehttp.WithInsecure())
		}
		exp, err = otlptracehttp.New(ctx, httpOpts...)
	default:
		grpcOpts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(ep.hostPort)}
		if ep.insecure {
			grpcOpts = append(grpcOpts, otlptracegrpc.WithInsecure())
		}
		// The gRPC client connects lazily, so an unreachable collector does
		// not block start-up; export errors surface on flush instead.
		exp, err = otlptracegrpc.New(ctx, grpcOpts...)
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: create %s OTLP exporter: %w", opts.OTLPProtocol, err)
	}
	return exp, nil
}
