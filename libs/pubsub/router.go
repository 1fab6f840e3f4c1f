// Package pubsub connects a service to Dapr pub/sub: a Router serves the
// programmatic subscription list and turns handler errors into Dapr's
// SUCCESS / RETRY / DROP answers; a Publisher sends JSON events.
package pubsub

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

// Event is a delivered CloudEvent with its payload left raw for the handler.
type Event struct {
	ID          string          `json:"id"`
	Source      string          `json:"source"`
	Type        string          `json:"type"`
	Topic       string          `json:"topic"`
	PubsubName  string          `json:"pubsubname"`
	TraceParent string          `json:"traceparent"`
	Data        json.RawMessage `json:"data"`
}

// Decode unmarshals the payload; a payload that does not decode is invalid
// input (dropped to the dead-letter topic), never a crash.
func (e Event) Decode(v any) error {
	// CloudEvents JSON treats "data": null as absent; decoding it would hand
	// the handler a zero value as if it were a real payload.
	if d := bytes.TrimSpace(e.Data); len(d) == 0 || bytes.Equal(d, []byte("null")) {
		return errkind.New(errkind.Invalid, "event "+e.ID+" on topic "+e.Topic+" has no data")
	}
	if err := json.Unmarshal(e.Data, v); err != nil {
		return errkind.Wrap(errkind.Invalid, err, "decode event "+e.ID+" on topic "+e.Topic)
	}
	return nil
}

// Handler processes one event. Its error's kind decides redelivery.
type Handler func(ctx context.Context, ev Event) error

type subscription struct {
	PubsubName      string `json:"pubsubname"`
	Topic           string `json:"topic"`
	Route           string `json:"route"`
	DeadLetterTopic string `json:"deadLetterTopic,omitempty"`
}

// Router registers subscriptions on a Fiber app.
type Router struct {
	app        *fiber.App
	pubsubName string
	log        *zap.Logger
	events     *prometheus.CounterVec
	subs       []subscription
}

// NewRouter serves GET /dapr/subscribe on app. reg may be nil.
func NewRouter(app *fiber.App, pubsubName string, log *zap.Logger, reg prometheus.Registerer) (*Router, error) {
	if log == nil {
		log = zap.NewNop()
	}
	r := &Router{
		subs: []subscription{},
		app:  app, pubsubName: pubsubName, log: log,
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secure_agent_pubsub_events_total",
			Help: "Events delivered to this app, by topic and the answer given (success, retry, drop).",
		}, []string{"topic", "result"}),
	}
	if reg != nil {
		if err := reg.Register(r.events); err != nil {
			return nil, fmt.Errorf("register pubsub metrics: %w", err)
		}
	}
	app.Get("/dapr/subscribe", func(c *fiber.Ctx) error { return c.JSON(r.subs) })
	return r, nil
}

// Subscribe routes topic to h. deadLetter may be empty.
func (r *Router) Subscribe(topic, deadLetter string, h Handler) {
	route := "/events/" + strings.ReplaceAll(topic, "/", "_")
	r.subs = append(r.subs, subscription{PubsubName: r.pubsubName, Topic: topic, Route: route, DeadLetterTopic: deadLetter})
	r.app.Post(route, func(c *fiber.Ctx) error {
		var ev Event
		answer := errkind.Drop
		err := json.Unmarshal(c.Body(), &ev)
		if err != nil {
			err = errkind.Wrap(errkind.Invalid, err, "decode cloud event on topic "+topic)
		} else {
			err = h(c.UserContext(), ev)
			answer = errkind.PubSubStatus(err)
		}
		if err != nil {
			r.log.Warn("event not processed", zap.String("topic", topic), zap.String("event_id", ev.ID),
				zap.String("answer", string(answer)), zap.Error(err))
		}
		r.events.WithLabelValues(topic, strings.ToLower(string(answer))).Inc()
		return c.JSON(fiber.Map{"status": string(answer)})
	})
}
