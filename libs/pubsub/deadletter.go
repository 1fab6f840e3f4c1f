package pubsub

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// DeadLetter is what a subscriber publishes to its dead-letter topic for an
// event it refuses (invalid input, an unknown job): the event as it was
// delivered, who refused it and why. Health keeps these until an operator
// replays or discards them (agentctl deadletters).
//
// Subscribers dead-letter by themselves instead of naming a deadLetterTopic
// in their subscriptions: Dapr's sidecar dead-letters *every* failed
// delivery when a subscription has one — also a delivery that failed
// because the app was restarting, or that the app answered RETRY — so a
// killed app's in-flight messages would be lost to the dead-letter topic.
// Without one, a failed delivery is retried by the sidecar's inbound
// resiliency policy and then redelivered by the broker.
type DeadLetter struct {
	// ID identifies the dead letter: the same event refused twice by the
	// same app on the same topic (a redelivery) has the same ID.
	ID         string          `json:"id"`
	Topic      string          `json:"topic"`
	Subscriber string          `json:"subscriber"` // app id of the app that refused it
	EventID    string          `json:"event_id"`
	Reason     string          `json:"reason"`
	At         time.Time       `json:"at"`
	Event      json.RawMessage `json:"event"` // the CloudEvent as delivered
}

// DeadLetterID is the stable id of a refused event.
func DeadLetterID(subscriber, topic, eventID string) string {
	h := sha256.Sum256([]byte(subscriber + "\x00" + topic + "\x00" + eventID))
	return "dl-" + hex.EncodeToString(h[:8])
}

// ReplayResult is an app's answer to POST /v1/deadletters/replay: the
// answer its handler gave the replayed event.
type ReplayResult struct {
	Status string `json:"status"` // SUCCESS, RETRY or DROP
	Error  string `json:"error,omitempty"`
}

// ReplayPath is the route every subscribing app serves for replays; only
// the health service may call it (access control in components/config).
const ReplayPath = "/v1/deadletters/replay"
