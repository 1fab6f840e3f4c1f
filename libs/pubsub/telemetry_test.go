package pubsub_test

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"testing"

	pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/pubsub"
)

func recorder() (*tracetest.SpanRecorder, trace.TracerProvider) {
	rec := tracetest.NewSpanRecorder()
	return rec, sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
}

// The CloudEvent carries the producer span, so the subscriber's sidecar
// continues it: the publish metadata names exactly that span.
func TestPublishCarriesTheProducerSpan(t *testing.T) {
	rec, tp := recorder()
	rc := &recordingClient{}
	p := pubsub.NewPublisher(rc, "pubsub", pubsub.WithTracerProvider(tp))
	reg := prometheus.NewRegistry()
	require.NoError(t, p.Register(reg))

	ctx, parent := tp.Tracer("test").Start(context.Background(), "job")
	require.NoError(t, p.Publish(ctx, "extract-requests", map[string]string{"job_id": "j-1"}))
	parent.End()

	spans := rec.Ended()
	require.Len(t, spans, 2)
	send := spans[0]
	require.Equal(t, "send extract-requests", send.Name())
	require.Equal(t, trace.SpanKindProducer, send.SpanKind())
	require.Equal(t, parent.SpanContext().SpanID(), send.Parent().SpanID())
	attrs := map[string]string{}
	for _, kv := range send.Attributes() {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	require.Equal(t, "extract-requests", attrs["messaging.destination.name"])
	require.Equal(t, "send", attrs["messaging.operation.type"])
	require.Equal(t, "dapr", attrs["messaging.system"])

	var req pb.PublishEventRequest
	for _, o := range rc.calls[0].opts {
		o(&req)
	}
	want := "00-" + send.SpanContext().TraceID().String() + "-" + send.SpanContext().SpanID().String() + "-01"
	require.Equal(t, want, req.GetMetadata()["cloudevent.traceparent"])
	require.Equal(t, 1.0, value(t, reg, "secure_agent_pubsub_published_total", map[string]string{"topic": "extract-requests", "result": "ok"}))
}

func TestPublishFailureIsCountedAndMarked(t *testing.T) {
	rec, tp := recorder()
	p := pubsub.NewPublisher(&recordingClient{err: errors.New("broker down")}, "pubsub", pubsub.WithTracerProvider(tp))
	reg := prometheus.NewRegistry()
	require.NoError(t, p.Register(reg))
	require.Error(t, p.Publish(context.Background(), "probe", 1))
	require.Len(t, rec.Ended(), 1)
	require.Equal(t, "Error", rec.Ended()[0].Status().Code.String())
	require.Equal(t, 1.0, value(t, reg, "secure_agent_pubsub_published_total", map[string]string{"topic": "probe", "result": "error"}))
}

// The handler runs inside a consumer span that is a child of the request's
// span, and a refused event counts as dead-lettered.
func TestDeliveryRunsInAConsumerSpan(t *testing.T) {
	rec, tp := recorder()
	app := fiber.New()
	var parent trace.Span
	app.Use(func(c *fiber.Ctx) error {
		ctx, span := tp.Tracer("test").Start(c.UserContext(), "POST /events/jobs")
		parent = span
		c.SetUserContext(ctx)
		defer span.End()
		return c.Next()
	})
	reg := prometheus.NewRegistry()
	r, err := pubsub.NewRouter(app, "pubsub", nil, reg, pubsub.WithTracerProvider(tp))
	require.NoError(t, err)
	dl := &recordingPublisher{}
	r.DeadLetterTo("publisher", dl)
	var inHandler trace.SpanContext
	r.Subscribe("jobs", "deadletter", func(ctx context.Context, _ pubsub.Event) error {
		inHandler = trace.SpanContextFromContext(ctx)
		return errkind.New(errkind.Invalid, "bad event")
	})
	require.Equal(t, 0.0, value(t, reg, "secure_agent_pubsub_dead_lettered_total", map[string]string{"topic": "jobs"}))

	status, answer := post(t, app, "/events/jobs", cloudEvent("ev-1", "jobs", `{"a":1}`))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "SUCCESS", answer["status"])

	var process sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "process jobs" {
			process = s
		}
	}
	require.NotNil(t, process, "no consumer span")
	require.Equal(t, trace.SpanKindConsumer, process.SpanKind())
	require.Equal(t, parent.SpanContext().SpanID(), process.Parent().SpanID())
	require.Equal(t, process.SpanContext().SpanID(), inHandler.SpanID(), "the handler runs in the consumer span")
	require.Len(t, process.Links(), 1, "the CloudEvent's foreign traceparent is linked")
	require.Equal(t, 1.0, value(t, reg, "secure_agent_pubsub_dead_lettered_total", map[string]string{"topic": "jobs"}))
}

// value reads the sample of name whose labels are want from reg; it fails
// when there is none.
func value(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			if maps.Equal(got, want) {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s%v gathered", name, want)
	return 0
}
