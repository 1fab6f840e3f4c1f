// Package probe is the broker round trip the health service uses to prove
// pub/sub works end to end: health publishes a Probe, every other app answers
// with an Ack through the broker.
package probe

import (
	"context"
	"time"

	"github.com/secure-agent/secure-agent/libs/pubsub"
)

const (
	Topic    = "probe"
	AckTopic = "probe-ack"
)

type Probe struct {
	ID     string    `json:"probe_id"`
	SentAt time.Time `json:"sent_at"`
}

type Ack struct {
	ProbeID    string    `json:"probe_id"`
	AppID      string    `json:"app_id"`
	ReceivedAt time.Time `json:"received_at"`
}

// Publisher is what the responder needs to answer.
type Publisher interface {
	Publish(ctx context.Context, topic string, v any) error
}

// RegisterResponder makes the app answer every probe with an ack.
func RegisterResponder(r *pubsub.Router, appID string, pub Publisher, now func() time.Time) {
	r.Subscribe(Topic, "", func(ctx context.Context, ev pubsub.Event) error {
		var p Probe
		if err := ev.Decode(&p); err != nil {
			return err
		}
		return pub.Publish(ctx, AckTopic, Ack{ProbeID: p.ID, AppID: appID, ReceivedAt: now()})
	})
}
