package probe_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/secure-agent/secure-agent/libs/pubsub/pubsubtest"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/probe"
	"github.com/secure-agent/secure-agent/libs/pubsub"
)

type published struct {
	topic string
	v     any
}

type recordingPublisher struct {
	sent []published
	err  error
}

func (r *recordingPublisher) Publish(_ context.Context, topic string, v any) error {
	r.sent = append(r.sent, published{topic: topic, v: v})
	return r.err
}

func newResponder(t *testing.T, pub probe.Publisher, now time.Time) *fiber.App {
	t.Helper()
	app := fiber.New()
	r, err := pubsub.NewRouter(app, "pubsub", nil, nil)
	require.NoError(t, err)
	probe.RegisterResponder(r, "extractor", pub, func() time.Time { return now })
	return app
}

func deliver(t *testing.T, app *fiber.App, data string) string {
	t.Helper()
	return pubsubtest.Deliver(t, app, probe.Topic, data)
}

func TestResponderAcksProbe(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	pub := &recordingPublisher{}
	app := newResponder(t, pub, now)

	require.Equal(t, "SUCCESS", deliver(t, app, `{"probe_id":"p-42","sent_at":"2025-03-04T05:06:06Z"}`))
	require.Len(t, pub.sent, 1)
	require.Equal(t, probe.AckTopic, pub.sent[0].topic)
	require.Equal(t, "probe-ack", pub.sent[0].topic)
	require.Equal(t, probe.Ack{ProbeID: "p-42", AppID: "extractor", ReceivedAt: now}, pub.sent[0].v)
}

func TestResponderSubscribesToProbeTopic(t *testing.T) {
	app := newResponder(t, &recordingPublisher{}, time.Now())
	resp, err := app.Test(httptest.NewRequest(http.MethodGet, "/dapr/subscribe", nil), -1)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.JSONEq(t, `[{"pubsubname":"pubsub","topic":"probe","route":"/events/probe"}]`, string(b))
}

func TestResponderRejectsBadProbes(t *testing.T) {
	tests := []struct {
		name, data string
	}{
		{"not an object", `"hello"`},
		{"wrong field type", `{"probe_id":7}`},
		{"no data", `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &recordingPublisher{}
			app := newResponder(t, pub, time.Now())
			require.Equal(t, "DROP", deliver(t, app, tt.data))
			require.Empty(t, pub.sent, "no ack for a probe that did not decode")
		})
	}
}

func TestResponderRetriesWhenAckCannotBePublished(t *testing.T) {
	pub := &recordingPublisher{err: errkind.New(errkind.Transient, "broker down")}
	app := newResponder(t, pub, time.Now())
	require.Equal(t, "RETRY", deliver(t, app, `{"probe_id":"p-1"}`))
	require.Len(t, pub.sent, 1)
}
