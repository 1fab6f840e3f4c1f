package logging

import (
	"context"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
)

// Field names of the trace a line was written in: what log pipelines
// (Datadog, Loki, an OpenTelemetry Collector) join to traces.
const (
	TraceIDKey = "trace_id"
	SpanIDKey  = "span_id"
)

// TraceFields are the trace_id and span_id of ctx's span; none without one.
func TraceFields(ctx context.Context) []zap.Field {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return nil
	}
	return []zap.Field{zap.String(TraceIDKey, sc.TraceID().String()), zap.String(SpanIDKey, sc.SpanID().String())}
}

// WithTrace returns log with ctx's trace_id and span_id, so every line
// written inside a span names it. Call it where a handler, activity or
// background step starts its span, and log through the result.
func WithTrace(ctx context.Context, log *zap.Logger) *zap.Logger {
	f := TraceFields(ctx)
	if len(f) == 0 {
		return log
	}
	return log.With(f...)
}
