// Package pubsubtest delivers CloudEvents to a service's pub/sub routes the
// way a Dapr sidecar does, for tests of subscribers.
package pubsubtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"
)

// Deliver posts a CloudEvent whose data is the raw JSON data to the route
// of topic (as registered by pubsub.Router.Subscribe) and returns the
// subscriber's answer: SUCCESS, RETRY or DROP.
func Deliver(t testing.TB, app *fiber.App, topic, data string) string {
	t.Helper()
	body := `{"specversion":"1.0","id":"ce-` + topic + `","source":"test","type":"com.dapr.event.sent",` +
		`"topic":"` + topic + `","pubsubname":"pubsub","datacontenttype":"application/json","data":` + data + `}`
	req := httptest.NewRequest(http.MethodPost, "/events/"+topic, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	resp, err := app.Test(req, -1)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var answer struct{ Status string }
	require.NoError(t, json.Unmarshal(b, &answer), "body: %s", b)
	return answer.Status
}
