package pubsub

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Option configures a Router or a Publisher.
type Option func(*options)

type options struct {
	tp trace.TracerProvider
}

// WithTracerProvider makes the Publisher start a producer span per publish
// and carry it in the CloudEvent, and the Router a consumer span per
// delivery: one trace across every pub/sub hop.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tp = tp }
}

func buildOptions(opts []Option) options {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if o.tp == nil {
		o.tp = noop.NewTracerProvider()
	}
	return o
}

const tracerName = "github.com/secure-agent/secure-agent/libs/pubsub"

// messagingSystem names the broker as the app sees it: Dapr, whatever
// component (JetStream, Redis Streams) is behind it.
const messagingSystem = "dapr"

func messagingAttrs(pubsubName, topic string, op attribute.KeyValue, opName string) []attribute.KeyValue {
	return []attribute.KeyValue{
		semconv.MessagingSystemKey.String(messagingSystem),
		semconv.MessagingDestinationName(topic),
		semconv.MessagingOperationName(opName),
		op,
		attribute.String("dapr.pubsub.name", pubsubName),
	}
}

// traceContextMetadata is the publish metadata that makes the sidecar
// write ctx's span into the CloudEvent (traceparent, tracestate) instead of
// one it derives: the subscriber's sidecar continues exactly this span.
func traceContextMetadata(ctx context.Context) map[string]string {
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	md := map[string]string{}
	if tp := carrier.Get("traceparent"); tp != "" {
		md["cloudevent.traceparent"] = tp
		md["cloudevent.traceid"] = tp
		if ts := carrier.Get("tracestate"); ts != "" {
			md["cloudevent.tracestate"] = ts
		}
	}
	return md
}

// cloudEventLink is a link to the span a CloudEvent's traceparent names.
func cloudEventLink(traceparent string) (trace.Link, bool) {
	if traceparent == "" {
		return trace.Link{}, false
	}
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": traceparent})
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return trace.Link{}, false
	}
	return trace.Link{SpanContext: sc}, true
}
