package objectstore

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/metricdef"
)

// Option configures a Store.
type Option func(*options)

type options struct {
	tp  trace.TracerProvider
	reg prometheus.Registerer
}

// WithTracerProvider makes every operation a client span; nil (the
// default) records none.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tp = tp }
}

// WithRegisterer exports the operation metrics on reg; nil (the default)
// keeps them unexported. Stores of one process share reg: the first
// registers the collectors, the others count into them.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(o *options) { o.reg = reg }
}

const tracerName = "github.com/secure-agent/secure-agent/libs/objectstore"

// Operations, as in the operation label and the span names.
const (
	opPut    = "put"
	opGet    = "get"
	opDelete = "delete"
	opList   = "list"
)

// Results of secure_agent_objectstore_operations_total.
const (
	resultOK       = "ok"
	resultNotFound = "not_found"
	resultError    = "error"
)

// Span attributes. The key is recorded: keys are built by libs/job from a
// job id, a partition id (p000), a run id, an asset kind and a sequence
// number under a destination's validated prefix — never a table name, a
// source value or a credential — and they are what an operator needs to
// find the object. Object contents never reach a span.
const (
	attrBinding   = attribute.Key("dapr.binding.name")
	attrOperation = attribute.Key("secure_agent.objectstore.operation")
	attrKey       = attribute.Key("secure_agent.objectstore.key")
	attrBytes     = attribute.Key("secure_agent.objectstore.bytes")
	attrKeys      = attribute.Key("secure_agent.objectstore.keys")
	attrResult    = attribute.Key("secure_agent.objectstore.result")
)

type metrics struct {
	ops      *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// newMetrics builds the collectors and registers them on reg, or counts
// into the ones another store of the process already registered there.
// Registration can only fail otherwise if something else registered these
// names with other labels, which metricdef's single list rules out; the
// store then works with unexported collectors rather than not at all.
func newMetrics(reg prometheus.Registerer) *metrics {
	return &metrics{
		ops:      shared(reg, metricdef.ObjectStoreOps.CounterVec()),
		bytes:    shared(reg, metricdef.ObjectStoreBytes.CounterVec()),
		duration: shared(reg, metricdef.ObjectStoreDuration.HistogramVec()),
	}
}

// shared registers c on reg and returns it, or the equal collector reg
// already holds.
func shared[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := metricdef.Register(reg, c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	return c
}

func (o options) tracer() trace.Tracer {
	tp := o.tp
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return tp.Tracer(tracerName)
}

// op is one operation in flight: its span, start time and labels.
type op struct {
	s     *Store
	name  string
	span  trace.Span
	start time.Time
}

// begin starts the operation's client span, a child of ctx's span.
func (s *Store) begin(ctx context.Context, name, key string) (context.Context, *op) {
	ctx, span := s.tracer.Start(ctx, "objectstore "+name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attrBinding.String(s.binding), attrOperation.String(name), attrKey.String(key)))
	return ctx, &op{s: s, name: name, span: span, start: time.Now()}
}

// end records the operation's outcome: n bytes sent or read (put, get), its
// result in the metrics and on the span, an error status for failures. A
// missing object is a result, not a failure: readers probe for objects.
func (o *op) end(n int, err error) {
	result := resultOK
	switch {
	case err != nil && errkind.Of(err) == errkind.NotFound:
		result = resultNotFound
	case err != nil:
		result = resultError
	}
	m := o.s.metrics
	m.ops.WithLabelValues(o.s.binding, o.name, result).Inc()
	m.duration.WithLabelValues(o.s.binding, o.name).Observe(time.Since(o.start).Seconds())
	if o.name == opPut || o.name == opGet {
		o.span.SetAttributes(attrBytes.Int(n))
		if result == resultOK {
			m.bytes.WithLabelValues(o.s.binding, o.name).Add(float64(n))
		}
	}
	o.span.SetAttributes(attrResult.String(result))
	if result == resultError {
		o.span.SetAttributes(semconv.ErrorTypeKey.String(errkind.Of(err).String()))
		o.span.SetStatus(codes.Error, err.Error())
	}
	o.span.End()
}
