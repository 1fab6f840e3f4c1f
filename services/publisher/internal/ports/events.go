// Package ports exposes the publisher to the broker (subscriptions) and
// to the orchestrator (HTTP through Dapr service invocation).
package ports

import (
	"context"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/pubsub"
	"github.com/secure-agent/secure-agent/services/publisher/internal/app"
)

// Subscribe routes batch-ready and partition-done to the service. Events
// that do not decode or are invalid go to the dead-letter topic and are
// counted.
func Subscribe(r *pubsub.Router, svc *app.Service) {
	r.Subscribe(job.TopicBatchReady, job.TopicDeadLetter, counted(svc, job.TopicBatchReady, func(ctx context.Context, ev pubsub.Event) error {
		var b job.BatchReady
		if err := ev.Decode(&b); err != nil {
			return err
		}
		return svc.VerifyBatch(ctx, b)
	}))
	r.Subscribe(job.TopicPartitionDone, job.TopicDeadLetter, counted(svc, job.TopicPartitionDone, func(ctx context.Context, ev pubsub.Event) error {
		var d job.PartitionDone
		if err := ev.Decode(&d); err != nil {
			return err
		}
		return svc.PublishPartition(ctx, d)
	}))
}

func counted(svc *app.Service, topic string, h pubsub.Handler) pubsub.Handler {
	return func(ctx context.Context, ev pubsub.Event) error {
		err := h(ctx, ev)
		if err != nil && errkind.Of(err) == errkind.Invalid {
			svc.CountInvalid(topic)
		}
		return err
	}
}
