package adapters

import (
	"context"

	"github.com/secure-agent/secure-agent/libs/job"
)

// EventPublisher publishes JSON events (pubsub.Publisher).
type EventPublisher interface {
	Publish(ctx context.Context, topic string, v any) error
}

// ExtractRequests publishes extract requests to the extractors' topic.
type ExtractRequests struct {
	pub EventPublisher
}

func NewExtractRequests(pub EventPublisher) *ExtractRequests { return &ExtractRequests{pub: pub} }

// PublishExtract publishes req to job.TopicExtractRequests.
func (r *ExtractRequests) PublishExtract(ctx context.Context, req job.ExtractRequest) error {
	return r.pub.Publish(ctx, job.TopicExtractRequests, req)
}
