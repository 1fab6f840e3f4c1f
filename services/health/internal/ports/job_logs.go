package ports

import (
	"context"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/logship"
	"github.com/secure-agent/secure-agent/libs/pubsub"
)

// Subscriber registers a topic handler; pubsub.Router fits.
type Subscriber interface {
	Subscribe(topic, deadLetter string, h pubsub.Handler)
}

// JobLogBuffer takes a job-logs event without waiting for the control plane.
type JobLogBuffer interface {
	Accept(b logship.Batch) error
}

// SubscribeJobLogs buffers each job-logs event for upload and acknowledges
// it at once. An event that does not decode is dropped: health may not
// publish to the dead-letter topic, and log lines are not worth one.
func SubscribeJobLogs(r Subscriber, logs JobLogBuffer) {
	r.Subscribe(job.TopicJobLogs, "", func(_ context.Context, ev pubsub.Event) error {
		var b logship.Batch
		if err := ev.Decode(&b); err != nil {
			return err
		}
		return logs.Accept(b)
	})
}
