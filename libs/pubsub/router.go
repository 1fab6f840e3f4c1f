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
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/logging"
	"github.com/secure-agent/secure-agent/libs/metricdef"
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
	PubsubName string `json:"pubsubname"`
	Topic      string `json:"topic"`
	Route      string `json:"route"`
}

// TopicPublisher publishes a payload to a topic (Publisher does).
type TopicPublisher interface {
	Publish(ctx context.Context, topic string, v any) error
}

type route struct {
	handler    Handler
	deadLetter string // where refused events go; empty: they are dropped
}

// Router registers subscriptions on a Fiber app.
type Router struct {
	app          *fiber.App
	pubsubName   string
	log          *zap.Logger
	events       *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	tracer       trace.Tracer
	subs         []subscription
	routes       map[string]route // by topic
	appID        string
	deadLetters  TopicPublisher
}

// NewRouter serves GET /dapr/subscribe and POST /v1/deadletters/replay on
// app. reg may be nil.
func NewRouter(app *fiber.App, pubsubName string, log *zap.Logger, reg prometheus.Registerer, opts ...Option) (*Router, error) {
	if log == nil {
		log = zap.NewNop()
	}
	o := buildOptions(opts)
	r := &Router{
		subs:   []subscription{},
		routes: map[string]route{},
		app:    app, pubsubName: pubsubName, log: log,
		events:       metricdef.PubSubEvents.CounterVec(),
		deadLettered: metricdef.DeadLettered.CounterVec(),
		tracer:       o.tp.Tracer(tracerName),
	}
	if err := metricdef.Register(reg, r.events, r.deadLettered); err != nil {
		return nil, fmt.Errorf("pubsub router: %w", err)
	}
	app.Get("/dapr/subscribe", func(c *fiber.Ctx) error { return c.JSON(r.subs) })
	app.Post(ReplayPath, r.replay)
	return r, nil
}

// DeadLetterTo makes the router publish the events its handlers refuse
// (answer DROP) to their subscription's dead-letter topic, as a DeadLetter
// naming appID, and answer SUCCESS once that is published (RETRY if it
// could not be). Without it a refused event is answered DROP, which the
// sidecar logs and acknowledges.
func (r *Router) DeadLetterTo(appID string, p TopicPublisher) {
	r.appID, r.deadLetters = appID, p
}

// Subscribe routes topic to h. Events h refuses are published to
// deadLetter (see DeadLetterTo); deadLetter may be empty.
func (r *Router) Subscribe(topic, deadLetter string, h Handler) {
	path := "/events/" + strings.ReplaceAll(topic, "/", "_")
	// No deadLetterTopic in the subscription: the sidecar would dead-letter
	// every failed delivery, not only refused events (see DeadLetter).
	r.subs = append(r.subs, subscription{PubsubName: r.pubsubName, Topic: topic, Route: path})
	r.routes[topic] = route{handler: h, deadLetter: deadLetter}
	if deadLetter != "" {
		// The series exists before the first refusal, so rate() works.
		r.deadLettered.WithLabelValues(topic)
	}
	r.app.Post(path, func(c *fiber.Ctx) error {
		// Fiber reuses the request buffer; the event may outlive the handler
		// in a dead letter.
		body := append([]byte(nil), c.Body()...)
		answer, result := r.deliver(c.UserContext(), topic, body)
		r.events.WithLabelValues(topic, result).Inc()
		return c.JSON(fiber.Map{"status": string(answer)})
	})
}

// deliver runs topic's handler on a delivered CloudEvent and decides the
// answer to the sidecar and the metric's result label.
func (r *Router) deliver(ctx context.Context, topic string, body []byte) (_ errkind.PubSubAnswer, result string) {
	rt := r.routes[topic]
	// A consumer span per delivery, child of the server span the sidecar's
	// traceparent started; the handler and its log lines run inside it.
	ctx, span := r.tracer.Start(ctx, "process "+topic, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(messagingAttrs(r.pubsubName, topic, semconv.MessagingOperationTypeProcess, "process")...))
	defer func() {
		span.SetAttributes(attribute.String("secure_agent.pubsub.answer", result))
		span.End()
	}()
	ev, err := decodeEvent(topic, body)
	if err == nil {
		span.SetAttributes(semconv.MessagingMessageID(ev.ID))
		if link, ok := cloudEventLink(ev.TraceParent); ok && link.SpanContext.TraceID() != span.SpanContext().TraceID() {
			// A publisher outside this trace (a replay, a foreign producer).
			span.AddLink(link)
		}
		err = rt.handler(ctx, ev)
	}
	answer := errkind.PubSubStatus(err)
	if err == nil {
		return answer, strings.ToLower(string(answer))
	}
	span.SetStatus(codes.Error, "event not processed")
	span.SetAttributes(semconv.ErrorTypeKey.String(errkind.Of(err).String()))
	log := logging.WithTrace(ctx, r.log).With(zap.String("topic", topic), zap.String("event_id", ev.ID))
	if answer != errkind.Drop || rt.deadLetter == "" || r.deadLetters == nil {
		log.Warn("event not processed", zap.String("answer", string(answer)), zap.Error(err))
		return answer, strings.ToLower(string(answer))
	}
	dl := DeadLetter{ID: DeadLetterID(r.appID, topic, ev.ID), Topic: topic, Subscriber: r.appID, EventID: ev.ID,
		Reason: err.Error(), At: time.Now().UTC(), Event: json.RawMessage(body)}
	if !json.Valid(body) {
		// Keep what arrived, as a JSON string, so the dead letter itself stays valid JSON.
		raw, _ := json.Marshal(string(body))
		dl.Event = raw
	}
	if perr := r.deadLetters.Publish(ctx, rt.deadLetter, dl); perr != nil {
		log.Error("event refused, but it could not be dead-lettered; it will be redelivered",
			zap.String("reason", err.Error()), zap.Error(perr))
		return errkind.Retry, strings.ToLower(string(errkind.Retry))
	}
	r.deadLettered.WithLabelValues(topic).Inc()
	log.Warn("event refused and dead-lettered; see agentctl deadletters list",
		zap.String("dead_letter_id", dl.ID), zap.String("dead_letter_topic", rt.deadLetter), zap.Error(err))
	return errkind.Success, "deadletter"
}

func decodeEvent(topic string, body []byte) (Event, error) {
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return ev, errkind.Wrap(errkind.Invalid, err, "decode cloud event on topic "+topic)
	}
	return ev, nil
}

// replay runs a dead letter's event through this app's handler again
// (POST /v1/deadletters/replay, called by the health service) and answers
// the handler's verdict; a refused event is not dead-lettered again.
func (r *Router) replay(c *fiber.Ctx) error {
	var dl DeadLetter
	if err := json.Unmarshal(c.Body(), &dl); err != nil {
		return errkind.Wrap(errkind.Invalid, err, "decode the dead letter to replay")
	}
	rt, ok := r.routes[dl.Topic]
	if !ok {
		return errkind.New(errkind.NotFound, fmt.Sprintf("this app (%s) does not subscribe to topic %q", r.appID, dl.Topic))
	}
	ev, err := decodeEvent(dl.Topic, dl.Event)
	if err == nil {
		err = rt.handler(c.UserContext(), ev)
	}
	res := ReplayResult{Status: string(errkind.PubSubStatus(err))}
	if err != nil {
		res.Error = err.Error()
	}
	r.events.WithLabelValues(dl.Topic, "replay_"+strings.ToLower(res.Status)).Inc()
	r.log.Info("dead letter replayed", zap.String("dead_letter_id", dl.ID), zap.String("topic", dl.Topic),
		zap.String("event_id", ev.ID), zap.String("answer", res.Status), zap.String("error", res.Error))
	return c.JSON(res)
}
