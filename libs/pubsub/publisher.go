package pubsub

import (
	"context"
	"encoding/json"
	"fmt"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/metricdef"
)

// EventPublisher is the slice of the Dapr client a Publisher needs.
type EventPublisher interface {
	PublishEvent(ctx context.Context, pubsubName, topicName string, data interface{}, opts ...dapr.PublishEventOption) error
}

// Publisher sends JSON payloads to one pub/sub component.
type Publisher struct {
	client     EventPublisher
	pubsubName string
	tracer     trace.Tracer
	published  *prometheus.CounterVec
}

// NewPublisher publishes through client to the component pubsubName.
func NewPublisher(client EventPublisher, pubsubName string, opts ...Option) *Publisher {
	o := buildOptions(opts)
	return &Publisher{client: client, pubsubName: pubsubName, tracer: o.tp.Tracer(tracerName),
		published: metricdef.PubSubPublished.CounterVec()}
}

// Register exports the publisher's metric (secure_agent_pubsub_published_total) on reg.
func (p *Publisher) Register(reg prometheus.Registerer) error {
	if err := metricdef.Register(reg, p.published); err != nil {
		return fmt.Errorf("pubsub publisher: %w", err)
	}
	return nil
}

// Publish marshals v and publishes it in a producer span whose context the
// CloudEvent carries; a broker failure is transient.
func (p *Publisher) Publish(ctx context.Context, topic string, v any) (err error) {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode event for topic %s: %w", topic, err)
	}
	ctx, span := p.tracer.Start(ctx, "send "+topic, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(messagingAttrs(p.pubsubName, topic, semconv.MessagingOperationTypeSend, "send")...),
		trace.WithAttributes(semconv.MessagingMessageBodySize(len(b))))
	defer func() {
		result := "ok"
		if err != nil {
			result = "error"
			span.SetStatus(codes.Error, "publish failed")
			span.SetAttributes(semconv.ErrorTypeKey.String(errkind.Of(err).String()))
		}
		p.published.WithLabelValues(topic, result).Inc()
		span.End()
	}()
	popts := []dapr.PublishEventOption{dapr.PublishEventWithContentType("application/json")}
	if md := traceContextMetadata(ctx); len(md) > 0 {
		popts = append(popts, dapr.PublishEventWithMetadata(md))
	}
	if err := p.client.PublishEvent(ctx, p.pubsubName, topic, b, popts...); err != nil {
		return errkind.Wrap(errkind.Transient, err, "publish to topic "+topic+" through pub/sub component "+p.pubsubName)
	}
	return nil
}
