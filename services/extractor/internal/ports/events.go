package ports

import (
	"context"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/pubsub"
)

// Subscriber registers a topic's handler (pubsub.Router).
type Subscriber interface {
	Subscribe(topic, deadLetter string, h pubsub.Handler)
}

// RequestHandler is the extraction use case.
type RequestHandler interface {
	Handle(ctx context.Context, req job.ExtractRequest) error
	Reject(ctx context.Context, err error) error
}

// RegisterEvents subscribes to extraction requests; undecodable or invalid
// ones go to the dead-letter topic.
func RegisterEvents(s Subscriber, h RequestHandler) {
	s.Subscribe(job.TopicExtractRequests, job.TopicDeadLetter, func(ctx context.Context, ev pubsub.Event) error {
		var req job.ExtractRequest
		if err := ev.Decode(&req); err != nil {
			return h.Reject(ctx, err)
		}
		return h.Handle(ctx, req)
	})
}
