package app

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/logging"
	"github.com/secure-agent/secure-agent/libs/metricdef"
	"github.com/secure-agent/secure-agent/libs/pubsub"
)

// DeadLetterRecord is a dead letter as health keeps it: the event, who
// refused it and why, and what replays did since.
type DeadLetterRecord struct {
	pubsub.DeadLetter
	// Received counts how often the same event was dead-lettered (a
	// redelivered event refused again keeps one record).
	Received   int        `json:"received"`
	Replays    int        `json:"replays,omitempty"`
	LastReplay *time.Time `json:"last_replay,omitempty"`
	// LastResult is the answer of the subscriber to the last replay
	// (DROP with the reason, or RETRY).
	LastResult string `json:"last_result,omitempty"`
}

// DeadLetterStore keeps dead letters durably. Put merges a record with an
// existing one of the same id; Get answers errkind.NotFound for an unknown
// id; List answers every record, oldest first.
type DeadLetterStore interface {
	Put(ctx context.Context, dl pubsub.DeadLetter) (DeadLetterRecord, error)
	Update(ctx context.Context, rec DeadLetterRecord) error
	Get(ctx context.Context, id string) (DeadLetterRecord, error)
	List(ctx context.Context) ([]DeadLetterRecord, error)
	Delete(ctx context.Context, id string) error
}

// Invoker calls an app through the sidecar; daprclient.Sidecar fits.
type Invoker interface {
	InvokeJSON(ctx context.Context, appID, verb, method string, in, out any) error
}

// DeadLetters keeps what the apps dead-letter, makes it visible (status,
// metrics, the API agentctl uses) and replays a dead letter by handing its
// event back to the app that refused it.
type DeadLetters struct {
	store   DeadLetterStore
	apps    Invoker
	log     *zap.Logger
	pending prometheus.Gauge
	events  *prometheus.CounterVec
}

// NewDeadLetters keeps dead letters in store and replays them through apps.
// reg may be nil.
func NewDeadLetters(store DeadLetterStore, apps Invoker, log *zap.Logger, reg prometheus.Registerer) (*DeadLetters, error) {
	if log == nil {
		log = zap.NewNop()
	}
	d := &DeadLetters{store: store, apps: apps, log: log,
		pending: metricdef.DeadLettersPending.Gauge(),
		events:  metricdef.DeadLetters.CounterVec(),
	}
	// The pipeline's topics are the ones whose events get dead-lettered;
	// their series exist from the start.
	for _, topic := range []string{job.TopicExtractRequests, job.TopicBatchReady, job.TopicPartitionDone, job.TopicPublishDone} {
		for _, event := range []string{"received", "replayed", "refused", "discarded"} {
			d.events.WithLabelValues(topic, event)
		}
	}
	if err := metricdef.Register(reg, d.pending, d.events); err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	return d, nil
}

// Receive records a dead letter published by an app. A failure is
// transient: the broker redelivers it, so a dead letter is never lost.
func (d *DeadLetters) Receive(ctx context.Context, dl pubsub.DeadLetter) error {
	if dl.ID == "" || dl.Topic == "" || dl.Subscriber == "" {
		return errkind.New(errkind.Invalid, "a dead letter needs id, topic and subscriber")
	}
	rec, err := d.store.Put(ctx, dl)
	if err != nil {
		return errkind.Wrap(errkind.Transient, err, "keep dead letter "+dl.ID)
	}
	d.events.WithLabelValues(dl.Topic, "received").Inc()
	logging.WithTrace(ctx, d.log).Warn("a message was dead-lettered; list with `agentctl deadletters list`, then replay or discard it",
		zap.String("dead_letter_id", dl.ID), zap.String("topic", dl.Topic), zap.String("subscriber", dl.Subscriber),
		zap.String("event_id", dl.EventID), zap.String("reason", dl.Reason), zap.Int("received", rec.Received))
	d.refresh(ctx)
	return nil
}

// List answers every kept dead letter, oldest first.
func (d *DeadLetters) List(ctx context.Context) ([]DeadLetterRecord, error) {
	recs, err := d.store.List(ctx)
	if err != nil {
		return nil, errkind.Wrap(errkind.Transient, err, "list dead letters")
	}
	d.pending.Set(float64(len(recs)))
	return recs, nil
}

// Pending counts the kept dead letters.
func (d *DeadLetters) Pending(ctx context.Context) (int, error) {
	recs, err := d.List(ctx)
	return len(recs), err
}

// Get answers one dead letter.
func (d *DeadLetters) Get(ctx context.Context, id string) (DeadLetterRecord, error) {
	return d.store.Get(ctx, id)
}

// ReplayOutcome says what the subscriber answered a replay.
type ReplayOutcome struct {
	ID     string `json:"id"`
	Status string `json:"status"` // SUCCESS (the record is gone), DROP or RETRY (it stays)
	Error  string `json:"error,omitempty"`
}

// Replay hands the dead letter's event to the app that refused it, through
// service invocation. Accepted, the record is deleted; refused again, it
// stays with the new reason.
func (d *DeadLetters) Replay(ctx context.Context, id string) (ReplayOutcome, error) {
	rec, err := d.store.Get(ctx, id)
	if err != nil {
		return ReplayOutcome{}, err
	}
	var res pubsub.ReplayResult
	if err := d.apps.InvokeJSON(ctx, rec.Subscriber, http.MethodPost, pubsub.ReplayPath, rec.DeadLetter, &res); err != nil {
		return ReplayOutcome{}, errkind.Wrap(errkind.Of(err), err, fmt.Sprintf("replay dead letter %s to %s", id, rec.Subscriber))
	}
	out := ReplayOutcome{ID: id, Status: res.Status, Error: res.Error}
	if res.Status == string(errkind.Success) {
		if err := d.store.Delete(ctx, id); err != nil {
			return out, errkind.Wrap(errkind.Transient, err, "the event was replayed, but its dead letter "+id+" could not be deleted; discard it")
		}
		d.events.WithLabelValues(rec.Topic, "replayed").Inc()
		logging.WithTrace(ctx, d.log).Info("dead letter replayed", zap.String("dead_letter_id", id), zap.String("topic", rec.Topic),
			zap.String("subscriber", rec.Subscriber))
		d.refresh(ctx)
		return out, nil
	}
	now := time.Now().UTC()
	rec.Replays++
	rec.LastReplay = &now
	rec.LastResult = res.Status + ": " + res.Error
	if err := d.store.Update(ctx, rec); err != nil {
		logging.WithTrace(ctx, d.log).Warn("could not record a refused replay", zap.String("dead_letter_id", id), zap.Error(err))
	}
	d.events.WithLabelValues(rec.Topic, "refused").Inc()
	return out, nil
}

// Discard deletes a dead letter an operator decided to give up on.
func (d *DeadLetters) Discard(ctx context.Context, id string) error {
	rec, err := d.store.Get(ctx, id)
	if err != nil {
		return err
	}
	if err := d.store.Delete(ctx, id); err != nil {
		return errkind.Wrap(errkind.Transient, err, "discard dead letter "+id)
	}
	d.events.WithLabelValues(rec.Topic, "discarded").Inc()
	logging.WithTrace(ctx, d.log).Info("dead letter discarded", zap.String("dead_letter_id", id), zap.String("topic", rec.Topic),
		zap.String("subscriber", rec.Subscriber), zap.String("event_id", rec.EventID))
	d.refresh(ctx)
	return nil
}

// refresh updates the pending gauge; a failure only leaves it stale.
func (d *DeadLetters) refresh(ctx context.Context) {
	if recs, err := d.store.List(ctx); err == nil {
		d.pending.Set(float64(len(recs)))
	}
}
