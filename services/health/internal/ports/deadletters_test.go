package ports

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/daprclient"
	"github.com/secure-agent/secure-agent/libs/daprtest"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/pubsub"
	"github.com/secure-agent/secure-agent/services/health/internal/adapters"
	"github.com/secure-agent/secure-agent/services/health/internal/app"
)

// TestDeadLettersThroughARealSidecar runs the whole dead-letter path on a
// real daprd: a subscriber refuses an event and publishes it to the
// dead-letter topic, health keeps it in the state store, the status turns
// degraded, a replay goes back to the subscriber through service
// invocation and, accepted, removes it. The subscriber is in the same app
// as health here (one sidecar, in-memory broker), under health's app id.
func TestDeadLettersThroughARealSidecar(t *testing.T) {
	id := fmt.Sprintf("sa-test-dl-%x", time.Now().UnixNano())
	a := newApp(t)
	sc := connectTo(t, id, a.port(), map[string]string{
		"pubsub.yaml": component("pubsub", "pubsub.in-memory", nil),
		"state.yaml":  component("statestore", "state.in-memory", nil),
	})
	a.app.Get("/readyz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ready"}) })
	router, err := pubsub.NewRouter(a.app, "pubsub", nil, nil)
	require.NoError(t, err)
	publisher := pubsub.NewPublisher(sc.Client(), "pubsub")
	router.DeadLetterTo(id, publisher)

	var known atomic.Bool
	var handled atomic.Int32
	router.Subscribe(job.TopicPartitionDone, job.TopicDeadLetter, func(_ context.Context, ev pubsub.Event) error {
		handled.Add(1)
		if !known.Load() {
			return errkind.New(errkind.NotFound, "job j-lost is unknown to this orchestrator")
		}
		return nil
	})
	dls, err := app.NewDeadLetters(adapters.NewDeadLetterStore(sc.Client(), "statestore"), sc, nil, nil)
	require.NoError(t, err)
	SubscribeDeadLetters(router, dls)
	RegisterDeadLetters(a.app, dls)
	status := app.NewStatus([]string{id}, sc, nil, nil).WithDeadLetters(dls)
	Register(a.app, status, nil, 10*time.Second)
	a.serve()

	base := fmt.Sprintf("http://127.0.0.1:%d", a.port())
	call := func(verb, path string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(verb, base+path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, b
	}
	list := func() []app.DeadLetterRecord {
		t.Helper()
		code, b := call(http.MethodGet, "/v1/deadletters")
		require.Equal(t, http.StatusOK, code, string(b))
		var l DeadLetterList
		require.NoError(t, json.Unmarshal(b, &l))
		return l.DeadLetters
	}

	// Publish until the sidecar has read the subscriptions (it does once the
	// app serves); each publish is one more delivery of the same event id.
	event := map[string]any{"job_id": "j-lost", "partition": "p000", "ok": true}
	var recs []app.DeadLetterRecord
	for deadline := time.Now().Add(30 * time.Second); len(recs) == 0; {
		require.True(t, time.Now().Before(deadline), "no dead letter kept")
		require.NoError(t, sc.Client().PublishEvent(context.Background(), "pubsub", job.TopicPartitionDone, event,
			withID("ev-lost")))
		time.Sleep(200 * time.Millisecond) // polling interval
		recs = list()
	}
	require.Len(t, recs, 1)
	rec := recs[0]
	require.Equal(t, job.TopicPartitionDone, rec.Topic)
	require.Equal(t, id, rec.Subscriber)
	require.Contains(t, rec.Reason, "j-lost is unknown")
	require.Contains(t, string(rec.Event), `"j-lost"`, "the event is kept as delivered")

	var r app.Report
	code, b := call(http.MethodGet, "/v1/status")
	require.NoError(t, json.Unmarshal(b, &r), string(b))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, app.Degraded, r.Status)
	require.Equal(t, 1, r.DeadLetters.Pending)
	require.Contains(t, fmt.Sprint(r.Problems), "agentctl deadletters list")

	// Refused again on replay: it stays, with the answer recorded.
	before := handled.Load()
	code, b = call(http.MethodPost, "/v1/deadletters/"+rec.ID+":replay")
	require.Equal(t, http.StatusOK, code, string(b))
	var out app.ReplayOutcome
	require.NoError(t, json.Unmarshal(b, &out))
	require.Equal(t, "DROP", out.Status)
	require.Greater(t, handled.Load(), before, "the replay reached the subscriber")
	got := list()
	require.Len(t, got, 1)
	require.Equal(t, 1, got[0].Replays)

	// Accepted: gone, and the agent is ok as far as dead letters go.
	known.Store(true)
	code, b = call(http.MethodPost, "/v1/deadletters/"+rec.ID+":replay")
	require.Equal(t, http.StatusOK, code, string(b))
	out = app.ReplayOutcome{}
	require.NoError(t, json.Unmarshal(b, &out))
	require.Equal(t, app.ReplayOutcome{ID: rec.ID, Status: "SUCCESS"}, out)
	require.Empty(t, list())
	code, b = call(http.MethodGet, "/v1/status")
	require.NoError(t, json.Unmarshal(b, &r), string(b))
	require.Equal(t, 0, r.DeadLetters.Pending)

	code, _ = call(http.MethodPost, "/v1/deadletters/"+rec.ID+":replay")
	require.Equal(t, http.StatusNotFound, code)
	code, _ = call(http.MethodPost, "/v1/deadletters/"+rec.ID+":frobnicate")
	require.Equal(t, http.StatusNotFound, code)

	// Discard: an operator gives up on one.
	known.Store(false)
	require.NoError(t, sc.Client().PublishEvent(context.Background(), "pubsub", job.TopicPartitionDone, event, withID("ev-2")))
	for deadline := time.Now().Add(10 * time.Second); len(list()) == 0; {
		require.True(t, time.Now().Before(deadline), "second dead letter not kept")
		time.Sleep(100 * time.Millisecond)
	}
	second := list()[0]
	code, _ = call(http.MethodPost, "/v1/deadletters/"+second.ID+":discard")
	require.Equal(t, http.StatusNoContent, code)
	require.Empty(t, list())
}

// connectTo starts a daprd for the app on appPort with resources and
// connects to it.
func connectTo(t *testing.T, appID string, appPort int, resources map[string]string) *daprclient.Sidecar {
	t.Helper()
	sc := daprtest.Start(t, daprtest.Options{AppID: appID, AppPort: appPort, Env: []string{"DAPR_HOST_IP=127.0.0.1"},
		Resources: resources})
	return connect(t, appID, sc)
}

// withID sets the CloudEvent id, as a redelivery keeps it.
func withID(id string) dapr.PublishEventOption {
	return dapr.PublishEventWithMetadata(map[string]string{"cloudevent.id": id})
}
