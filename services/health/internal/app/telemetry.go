package app

import (
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

const tracerName = "github.com/secure-agent/secure-agent/services/health"

func tracerOf(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return tp.Tracer(tracerName)
}

// endSpan ends a background step's span, marking a failure with its kind
// and message (the control-plane client's errors hold no secret).
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.SetAttributes(semconv.ErrorTypeKey.String(errkind.Of(err).String()))
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
