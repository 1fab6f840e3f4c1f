package app

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/logging"
)

const tracerName = "github.com/secure-agent/secure-agent/services/extractor"

// Span names of the extractor's steps. They run inside the span of the
// delivery (pub/sub) or the request (invocation) that carried the job's
// trace here; the connector adds one database span per statement below
// them, the staging store one per object written.
const (
	spanExtract   = "extract partition"
	spanStage     = "stage batch"
	spanAnnounce  = "announce batch"
	spanChecks    = "preflight checks"
	spanPlan      = "plan partitions"
	spanListing   = "list source"
	spanPreflight = "preflight"
)

// Span attributes (as the publisher names them). Ids may be span
// attributes, never metric labels; no DSN, table name or file content.
const (
	attrJobID      = attribute.Key("secure_agent.job.id")
	attrPartition  = attribute.Key("secure_agent.partition.id")
	attrAttempt    = attribute.Key("secure_agent.attempt")
	attrRun        = attribute.Key("secure_agent.run.id")
	attrSourceKind = attribute.Key("secure_agent.source.kind")
	attrConnection = attribute.Key("secure_agent.connection")
	attrKind       = attribute.Key("secure_agent.asset.kind")
	attrSeq        = attribute.Key("secure_agent.file.seq")
	attrBytes      = attribute.Key("secure_agent.file.bytes")
	attrRows       = attribute.Key("secure_agent.file.rows")
	attrKey        = attribute.Key("secure_agent.file.key")
	attrResult     = attribute.Key("secure_agent.result")
	attrRetryable  = attribute.Key("secure_agent.retryable")
)

func tracerOf(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return tp.Tracer(tracerName)
}

func requestAttrs(req job.ExtractRequest) []attribute.KeyValue {
	return []attribute.KeyValue{
		attrJobID.String(req.JobID), attrPartition.String(req.Partition.ID), attrAttempt.Int(req.Attempt),
		attrSourceKind.String(req.Spec.Source.Kind),
	}
}

// failSpan marks span failed: the error's kind as error.type and its
// message without anything that looks like a secret (the extractor's
// errors are scrubbed of the source password already).
func failSpan(span trace.Span, err error) {
	span.SetAttributes(semconv.ErrorTypeKey.String(errkind.Of(err).String()))
	span.SetStatus(codes.Error, logging.RedactString(err.Error()))
}

// endSpan ends span, failed when err is not nil.
func endSpan(span trace.Span, err error) {
	if err != nil {
		failSpan(span, err)
	}
	span.End()
}
