package app

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/secure-agent/secure-agent/libs/job"
)

// EventName is the one external event name JobWorkflow listens to. The
// engine buffers events per name, so nothing raised while the workflow is
// busy is lost.
const EventName = "job-event"

// EventType tells the workflow what an Event carries.
type EventType string

const (
	EventPartitionDone EventType = "partition-done" // payload: job.PartitionDone (without Files)
	EventPublishDone   EventType = "publish-done"   // payload: job.PublishDone (without Files)
	EventCancel        EventType = "cancel"         // no payload
	EventDeadline      EventType = "deadline"       // payload: Alarm, raised by a JobDeadline child workflow
	// EventWake is ignored by the workflow: raising it runs a workflow
	// whose start was lost (wake.go).
	EventWake EventType = "wake"
)

// Event is the payload of every "job-event".
type Event struct {
	Type    EventType       `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// Alarm asks for a deadline event for one partition attempt at a time.
// The workflow ignores an alarm whose attempt or time is no longer the
// partition's current one, so stale alarms are harmless.
type Alarm struct {
	Partition string    `json:"partition"`
	Attempt   int       `json:"attempt"`
	At        time.Time `json:"at"`
}

// PartitionDoneEvent wraps pd for the workflow. The run's file list is
// dropped: the orchestrator never needs it and it would bloat the
// workflow's history.
func PartitionDoneEvent(pd job.PartitionDone) (Event, error) {
	pd.Files = nil
	return newEvent(EventPartitionDone, pd)
}

// PublishDoneEvent wraps pd for the workflow, without its file list.
func PublishDoneEvent(pd job.PublishDone) (Event, error) {
	pd.Files = nil
	return newEvent(EventPublishDone, pd)
}

// CancelEvent asks the workflow to stop.
func CancelEvent() Event { return Event{Type: EventCancel} }

// WakeEvent runs a workflow that stayed pending (wake.go).
func WakeEvent() Event { return Event{Type: EventWake} }

// DeadlineEvent reports that a's time has come.
func DeadlineEvent(a Alarm) (Event, error) { return newEvent(EventDeadline, a) }

func newEvent(t EventType, payload any) (Event, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return Event{}, fmt.Errorf("encode %s event: %w", t, err)
	}
	return Event{Type: t, Payload: b}, nil
}
