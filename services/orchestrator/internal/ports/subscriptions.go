package ports

import (
	"context"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/pubsub"
	"github.com/secure-agent/secure-agent/services/orchestrator/internal/app"
)

// Subscriber is where subscriptions route events (pubsub.Router).
type Subscriber interface {
	Subscribe(topic, deadLetter string, h pubsub.Handler)
}

// RegisterSubscriptions routes partition-done and publish-done into the
// jobs' workflows; undecodable events and events of unknown jobs go to
// the dead-letter topic.
func RegisterSubscriptions(r Subscriber, f *app.Forwarder) {
	r.Subscribe(job.TopicPartitionDone, job.TopicDeadLetter, func(ctx context.Context, ev pubsub.Event) error {
		var pd job.PartitionDone
		if err := ev.Decode(&pd); err != nil {
			return err
		}
		return f.PartitionDone(ctx, pd)
	})
	r.Subscribe(job.TopicPublishDone, job.TopicDeadLetter, func(ctx context.Context, ev pubsub.Event) error {
		var pd job.PublishDone
		if err := ev.Decode(&pd); err != nil {
			return err
		}
		return f.PublishDone(ctx, pd)
	})
}
