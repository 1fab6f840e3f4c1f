package app

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/logging"
)

const tracerName = "github.com/secure-agent/secure-agent/services/publisher"

// Span attributes of the publisher's steps. Ids and binding names only:
// never a DSN, a table name or file contents.
const (
	attrJobID       = attribute.Key("secure_agent.job.id")
	attrPartition   = attribute.Key("secure_agent.partition.id")
	attrRun         = attribute.Key("secure_agent.run.id")
	attrDestination = attribute.Key("secure_agent.destination")
	attrKind        = attribute.Key("secure_agent.asset.kind")
	attrFile        = attribute.Key("secure_agent.file.name")
	attrBytes       = attribute.Key("secure_agent.file.bytes")
	attrRows        = attribute.Key("secure_agent.file.rows")
	attrFiles       = attribute.Key("secure_agent.files")
	attrResult      = attribute.Key("secure_agent.result")
)

func tracerOf(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return tp.Tracer(tracerName)
}

// step starts the span of one step of a handler, a child of ctx's span
// (the server span of an invocation, the consumer span of an event), and
// returns the logger for lines written inside it.
func (s *Service) step(ctx context.Context, name string, log *zap.Logger, attrs ...attribute.KeyValue) (context.Context, trace.Span, *zap.Logger) {
	ctx, span := s.tracer.Start(ctx, "publisher "+name, trace.WithAttributes(attrs...))
	return ctx, span, logging.WithTrace(ctx, log)
}

// endStep ends a step's span, marking a failure with its error kind and
// message (the publisher's errors name keys and bindings, no secret).
func endStep(span trace.Span, err error) {
	if err != nil {
		span.SetAttributes(semconv.ErrorTypeKey.String(errkind.Of(err).String()))
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

func jobAttrs(jobID, partition, run string) []attribute.KeyValue {
	out := []attribute.KeyValue{attrJobID.String(jobID)}
	if partition != "" {
		out = append(out, attrPartition.String(partition))
	}
	if run != "" {
		out = append(out, attrRun.String(run))
	}
	return out
}
