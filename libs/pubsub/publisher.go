package pubsub

import (
	"context"
	"encoding/json"
	"fmt"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

// EventPublisher is the slice of the Dapr client a Publisher needs.
type EventPublisher interface {
	PublishEvent(ctx context.Context, pubsubName, topicName string, data interface{}, opts ...dapr.PublishEventOption) error
}

// Publisher sends JSON payloads to one pub/sub component.
type Publisher struct {
	client     EventPublisher
	pubsubName string
}

func NewPublisher(client EventPublisher, pubsubName string) *Publisher {
	return &Publisher{client: client, pubsubName: pubsubName}
}

// Publish marshals v and publishes it; a broker failure is transient.
func (p *Publisher) Publish(ctx context.Context, topic string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode event for topic %s: %w", topic, err)
	}
	if err := p.client.PublishEvent(ctx, p.pubsubName, topic, b, dapr.PublishEventWithContentType("application/json")); err != nil {
		return errkind.Wrap(errkind.Transient, err, "publish to topic "+topic+" through pub/sub component "+p.pubsubName)
	}
	return nil
}
