package pubsub_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/pubsub"
)

// recordingPublisher keeps what was published, or fails with err.
type recordingPublisher struct {
	mu   sync.Mutex
	err  error
	sent []struct {
		topic string
		dl    pubsub.DeadLetter
	}
}

func (p *recordingPublisher) Publish(_ context.Context, topic string, v any) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	b, _ := json.Marshal(v)
	var dl pubsub.DeadLetter
	_ = json.Unmarshal(b, &dl)
	p.sent = append(p.sent, struct {
		topic string
		dl    pubsub.DeadLetter
	}{topic, dl})
	return nil
}

func TestSubscriptionsNeverAskTheSidecarToDeadLetter(t *testing.T) {
	// A deadLetterTopic in a subscription makes daprd dead-letter every
	// failed delivery, including those that failed because the app was
	// restarting: the router must never declare one.
	app := fiber.New()
	r, err := pubsub.NewRouter(app, "pubsub", nil, nil)
	require.NoError(t, err)
	r.Subscribe("partition-done", "deadletter", func(context.Context, pubsub.Event) error { return nil })
	req := httptest.NewRequest(http.MethodGet, "/dapr/subscribe", nil)
	resp, err := app.Test(req, -1)
	require.NoError(t, err)
	defer resp.Body.Close()
	var subs []map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&subs))
	require.Len(t, subs, 1)
	require.NotContains(t, subs[0], "deadLetterTopic")
}

func TestRefusedEventIsDeadLetteredByTheApp(t *testing.T) {
	app := fiber.New()
	reg := prometheus.NewRegistry()
	r, err := pubsub.NewRouter(app, "pubsub", nil, reg)
	require.NoError(t, err)
	pub := &recordingPublisher{}
	r.DeadLetterTo("orchestrator", pub)
	r.Subscribe("partition-done", "deadletter", func(context.Context, pubsub.Event) error {
		return errkind.New(errkind.NotFound, "job j-1 is unknown")
	})

	body := cloudEvent("ev-1", "partition-done", `{"job_id":"j-1"}`)
	status, answer := post(t, app, "/events/partition-done", body)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "SUCCESS", answer["status"], "dead-lettered: acknowledged, not dropped by the sidecar")
	require.Len(t, pub.sent, 1)
	got := pub.sent[0]
	require.Equal(t, "deadletter", got.topic)
	require.Equal(t, "partition-done", got.dl.Topic)
	require.Equal(t, "orchestrator", got.dl.Subscriber)
	require.Equal(t, "ev-1", got.dl.EventID)
	require.Equal(t, pubsub.DeadLetterID("orchestrator", "partition-done", "ev-1"), got.dl.ID)
	require.Contains(t, got.dl.Reason, "job j-1 is unknown")
	require.JSONEq(t, body, string(got.dl.Event), "the event is kept as delivered")
	require.False(t, got.dl.At.IsZero())
	require.Equal(t, 1.0, counter(t, reg, "partition-done", "deadletter"))
	require.Zero(t, counter(t, reg, "partition-done", "drop"))

	// The same event refused again has the same id (health keeps one).
	post(t, app, "/events/partition-done", body)
	require.Equal(t, pub.sent[0].dl.ID, pub.sent[1].dl.ID)
}

func TestUndecodableEventIsDeadLetteredAsAString(t *testing.T) {
	app := fiber.New()
	r, err := pubsub.NewRouter(app, "pubsub", nil, nil)
	require.NoError(t, err)
	pub := &recordingPublisher{}
	r.DeadLetterTo("extractor", pub)
	r.Subscribe("extract-requests", "deadletter", func(context.Context, pubsub.Event) error { return nil })
	_, answer := post(t, app, "/events/extract-requests", `{not json`)
	require.Equal(t, "SUCCESS", answer["status"])
	require.Len(t, pub.sent, 1)
	var raw string
	require.NoError(t, json.Unmarshal(pub.sent[0].dl.Event, &raw))
	require.Equal(t, `{not json`, raw)
}

func TestDeadLetterThatCannotBePublishedIsRetried(t *testing.T) {
	app := fiber.New()
	reg := prometheus.NewRegistry()
	r, err := pubsub.NewRouter(app, "pubsub", nil, reg)
	require.NoError(t, err)
	r.DeadLetterTo("publisher", &recordingPublisher{err: errors.New("broker down")})
	r.Subscribe("batch-ready", "deadletter", func(context.Context, pubsub.Event) error {
		return errkind.New(errkind.Invalid, "bad batch")
	})
	_, answer := post(t, app, "/events/batch-ready", cloudEvent("ev-3", "batch-ready", `{}`))
	require.Equal(t, "RETRY", answer["status"], "never lost: redelivered until it can be dead-lettered")
	require.Equal(t, 1.0, counter(t, reg, "batch-ready", "retry"))
}

func TestRetryAndSuccessAreNotDeadLettered(t *testing.T) {
	app := fiber.New()
	r, err := pubsub.NewRouter(app, "pubsub", nil, nil)
	require.NoError(t, err)
	pub := &recordingPublisher{}
	r.DeadLetterTo("publisher", pub)
	r.Subscribe("a", "deadletter", func(context.Context, pubsub.Event) error {
		return errkind.New(errkind.Transient, "state store down")
	})
	r.Subscribe("b", "deadletter", func(context.Context, pubsub.Event) error { return nil })
	_, answer := post(t, app, "/events/a", cloudEvent("e", "a", `1`))
	require.Equal(t, "RETRY", answer["status"])
	_, answer = post(t, app, "/events/b", cloudEvent("e", "b", `1`))
	require.Equal(t, "SUCCESS", answer["status"])
	require.Empty(t, pub.sent)
}

func TestReplayRunsTheHandlerAgain(t *testing.T) {
	// As in libs/httpserver: an error's kind decides the status.
	app := fiber.New(fiber.Config{ErrorHandler: func(c *fiber.Ctx, err error) error {
		return c.Status(errkind.HTTPStatus(errkind.Of(err))).JSON(fiber.Map{"error": err.Error()})
	}})
	r, err := pubsub.NewRouter(app, "pubsub", nil, nil)
	require.NoError(t, err)
	pub := &recordingPublisher{}
	r.DeadLetterTo("orchestrator", pub)
	known := false
	var seen []string
	r.Subscribe("partition-done", "deadletter", func(_ context.Context, ev pubsub.Event) error {
		seen = append(seen, ev.ID)
		if !known {
			return errkind.New(errkind.NotFound, "job j-1 is unknown")
		}
		return nil
	})
	post(t, app, "/events/partition-done", cloudEvent("ev-1", "partition-done", `{"job_id":"j-1"}`))
	require.Len(t, pub.sent, 1)
	dl, err := json.Marshal(pub.sent[0].dl)
	require.NoError(t, err)

	replay := func() (int, pubsub.ReplayResult) {
		status, answer := post(t, app, pubsub.ReplayPath, string(dl))
		return status, pubsub.ReplayResult{Status: answer["status"], Error: answer["error"]}
	}
	status, res := replay()
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "DROP", res.Status, "still refused")
	require.Contains(t, res.Error, "unknown")
	require.Len(t, pub.sent, 1, "a replay is never dead-lettered again")

	known = true
	status, res = replay()
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, pubsub.ReplayResult{Status: "SUCCESS"}, res)
	require.Equal(t, []string{"ev-1", "ev-1", "ev-1"}, seen)

	req := httptest.NewRequest(http.MethodPost, pubsub.ReplayPath, strings.NewReader(`{"topic":"nosuch","event":{}}`))
	resp, err := app.Test(req, -1)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "a topic this app does not subscribe to")
}
