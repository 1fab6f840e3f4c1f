package pubsub_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/pubsub"
)

// post sends body to path on app and returns the status and decoded answer.
func post(t *testing.T, app *fiber.App, path, body string) (int, map[string]string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	resp, err := app.Test(req, -1)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var answer map[string]string
	require.NoError(t, json.Unmarshal(b, &answer), "body: %s", b)
	return resp.StatusCode, answer
}

// counter reads secure_agent_pubsub_events_total{topic,result} from reg; 0 if absent.
func counter(t *testing.T, reg *prometheus.Registry, topic, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "secure_agent_pubsub_events_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["topic"] == topic && l["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func cloudEvent(id, topic, data string) string {
	return `{"specversion":"1.0","id":"` + id + `","source":"orchestrator","type":"com.dapr.event.sent",` +
		`"topic":"` + topic + `","pubsubname":"pubsub",` +
		`"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",` +
		`"datacontenttype":"application/json","data":` + data + `}`
}

func TestSubscriptionList(t *testing.T) {
	app := fiber.New()
	r, err := pubsub.NewRouter(app, "jobs-pubsub", nil, nil)
	require.NoError(t, err)
	noop := func(context.Context, pubsub.Event) error { return nil }
	r.Subscribe("extract-requests", "extract-requests-dead", noop)
	r.Subscribe("team/a", "", noop)

	resp, err := app.Test(httptest.NewRequest(http.MethodGet, "/dapr/subscribe", nil), -1)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.JSONEq(t, `[
		{"pubsubname":"jobs-pubsub","topic":"extract-requests","route":"/events/extract-requests"},
		{"pubsubname":"jobs-pubsub","topic":"team/a","route":"/events/team_a"}
	]`, string(b))
}

func TestSubscriptionListEmpty(t *testing.T) {
	app := fiber.New()
	_, err := pubsub.NewRouter(app, "pubsub", nil, nil)
	require.NoError(t, err)
	resp, err := app.Test(httptest.NewRequest(http.MethodGet, "/dapr/subscribe", nil), -1)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var subs []map[string]any
	require.NoError(t, json.Unmarshal(b, &subs), "body: %s", b)
	require.Empty(t, subs)
}

func TestNewRouterRegistryUsedTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, err := pubsub.NewRouter(fiber.New(), "pubsub", nil, reg)
	require.NoError(t, err)
	_, err = pubsub.NewRouter(fiber.New(), "pubsub", nil, reg)
	require.ErrorContains(t, err, "pubsub router: register metrics")
}

func TestDeliveryDecodesEvent(t *testing.T) {
	app := fiber.New()
	r, err := pubsub.NewRouter(app, "pubsub", nil, nil)
	require.NoError(t, err)
	got := make(chan pubsub.Event, 1)
	r.Subscribe("jobs", "", func(_ context.Context, ev pubsub.Event) error {
		got <- ev
		return nil
	})

	status, answer := post(t, app, "/events/jobs", cloudEvent("ev-1", "jobs", `{"job_id":"j-7","parts":3}`))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, map[string]string{"status": "SUCCESS"}, answer)

	var ev pubsub.Event
	select {
	case ev = <-got:
	default:
		t.Fatal("handler was not called")
	}
	require.Equal(t, "ev-1", ev.ID)
	require.Equal(t, "jobs", ev.Topic)
	require.Equal(t, "pubsub", ev.PubsubName)
	require.Equal(t, "orchestrator", ev.Source)
	require.Equal(t, "com.dapr.event.sent", ev.Type)
	require.Equal(t, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ev.TraceParent)
	require.JSONEq(t, `{"job_id":"j-7","parts":3}`, string(ev.Data))

	var payload struct {
		JobID string `json:"job_id"`
		Parts int    `json:"parts"`
	}
	require.NoError(t, ev.Decode(&payload))
	require.Equal(t, "j-7", payload.JobID)
	require.Equal(t, 3, payload.Parts)
}

func TestHandlerErrorsMapToAnswers(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantAnswer string
	}{
		{"nil acknowledges", nil, "SUCCESS"},
		{"transient retries", errkind.New(errkind.Transient, "db down"), "RETRY"},
		{"wrapped transient retries", errkind.Wrap(errkind.Transient, errors.New("timeout"), "save"), "RETRY"},
		{"kindless error retries", errors.New("bug"), "RETRY"},
		{"invalid drops", errkind.New(errkind.Invalid, "bad payload"), "DROP"},
		{"not found drops", errkind.New(errkind.NotFound, "no such job"), "DROP"},
		{"conflict drops", errkind.New(errkind.Conflict, "duplicate"), "DROP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := fiber.New()
			reg := prometheus.NewRegistry()
			r, err := pubsub.NewRouter(app, "pubsub", nil, reg)
			require.NoError(t, err)
			calls := 0
			r.Subscribe("jobs", "", func(context.Context, pubsub.Event) error {
				calls++
				return tt.err
			})
			status, answer := post(t, app, "/events/jobs", cloudEvent("ev-2", "jobs", `{}`))
			require.Equal(t, http.StatusOK, status, "Dapr reads the answer only from a 200")
			require.Equal(t, tt.wantAnswer, answer["status"])
			require.Equal(t, 1, calls)
			require.Equal(t, 1.0, counter(t, reg, "jobs", strings.ToLower(tt.wantAnswer)))
			for _, other := range []string{"success", "retry", "drop"} {
				if other != strings.ToLower(tt.wantAnswer) {
					require.Zero(t, counter(t, reg, "jobs", other), "result %s", other)
				}
			}
		})
	}
}

func TestMalformedBodyIsDroppedWithoutCallingHandler(t *testing.T) {
	app := fiber.New()
	reg := prometheus.NewRegistry()
	r, err := pubsub.NewRouter(app, "pubsub", nil, reg)
	require.NoError(t, err)
	called := false
	r.Subscribe("jobs", "", func(context.Context, pubsub.Event) error {
		called = true
		return nil
	})
	for _, body := range []string{`{not json`, ``, `[1,2]`} {
		status, answer := post(t, app, "/events/jobs", body)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "DROP", answer["status"], "body %q", body)
	}
	require.False(t, called)
	require.Equal(t, 3.0, counter(t, reg, "jobs", "drop"))
	require.Zero(t, counter(t, reg, "jobs", "success"))
}

func TestCounterAccumulatesPerTopic(t *testing.T) {
	app := fiber.New()
	reg := prometheus.NewRegistry()
	r, err := pubsub.NewRouter(app, "pubsub", nil, reg)
	require.NoError(t, err)
	r.Subscribe("a", "", func(context.Context, pubsub.Event) error { return nil })
	r.Subscribe("b", "", func(context.Context, pubsub.Event) error { return errkind.New(errkind.Transient, "later") })
	for range 3 {
		post(t, app, "/events/a", cloudEvent("e", "a", `1`))
	}
	post(t, app, "/events/b", cloudEvent("e", "b", `1`))
	require.Equal(t, 3.0, counter(t, reg, "a", "success"))
	require.Equal(t, 1.0, counter(t, reg, "b", "retry"))
	require.Zero(t, counter(t, reg, "b", "success"))
}

func TestEventDecode(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		wantErr string // empty: decodes
	}{
		{"valid", `{"n":5}`, ""},
		{"empty", ``, "event ev-9 on topic jobs has no data"},
		{"json null", `null`, "event ev-9 on topic jobs has no data"},
		{"whitespace null", " null\n", "event ev-9 on topic jobs has no data"},
		{"not json", `{"n":`, "decode event ev-9 on topic jobs"},
		{"wrong type", `{"n":"five"}`, "decode event ev-9 on topic jobs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := pubsub.Event{ID: "ev-9", Topic: "jobs", Data: json.RawMessage(tt.data)}
			var v struct {
				N int `json:"n"`
			}
			err := ev.Decode(&v)
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.Equal(t, 5, v.N)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			require.Equal(t, errkind.Invalid, errkind.Of(err))
			require.Equal(t, errkind.Drop, errkind.PubSubStatus(err))
		})
	}
}
