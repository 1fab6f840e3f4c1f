package daprclient

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// freePort returns a loopback port that nothing listens on (bound, then released).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// portOf returns the port of an httptest server.
func portOf(t *testing.T, srv *httptest.Server) int {
	t.Helper()
	_, p, err := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	n, err := strconv.Atoi(p)
	require.NoError(t, err)
	return n
}

func TestConnectGivesUpWithActionableError(t *testing.T) {
	port := freePort(t)
	start := time.Now()
	s, err := Connect(context.Background(), Options{
		AppID: "orders", HTTPPort: port, GRPCPort: freePort(t), WaitTimeout: time.Second,
	})
	elapsed := time.Since(start)
	require.Nil(t, s)
	require.Error(t, err)
	require.Less(t, elapsed, 3*time.Second, "Connect must respect WaitTimeout")
	require.GreaterOrEqual(t, elapsed, 900*time.Millisecond, "Connect waits for the sidecar before giving up")

	msg := err.Error()
	require.Contains(t, msg, `"orders"`, "names the app")
	require.Contains(t, msg, "http://127.0.0.1:"+strconv.Itoa(port), "names the sidecar address")
	require.Contains(t, msg, "start daprd with --app-id orders", "tells the user what to do")
	require.Contains(t, msg, "DAPR_HTTP_PORT")
	require.Contains(t, msg, "1s", "says how long it waited")
}

func TestConnectWithCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	s, err := Connect(ctx, Options{AppID: "orders", HTTPPort: freePort(t), WaitTimeout: time.Minute})
	require.Nil(t, s)
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, time.Since(start), time.Second)
}

func TestConnectStopsWaitingWhenContextIsCancelled(t *testing.T) {
	probed := make(chan struct{}, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		probed <- struct{}{}
		http.Error(w, "components loading", http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := Connect(ctx, Options{AppID: "orders", HTTPPort: portOf(t, srv), WaitTimeout: time.Minute})
		done <- err
	}()
	select {
	case <-probed:
	case <-time.After(5 * time.Second):
		t.Fatal("Connect never probed the sidecar")
	}
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
		require.Less(t, time.Since(start), 5*time.Second)
	case <-time.After(5 * time.Second):
		t.Fatal("Connect did not return after its context was cancelled")
	}
}

func TestConnectSucceedsOnceOutboundHealthy(t *testing.T) {
	var calls atomic.Int32
	var badToken atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("dapr-api-token") != "tok-1" {
			badToken.Store(true)
		}
		switch r.URL.Path {
		case "/v1.0/healthz/outbound":
			// Not ready on the first probe, ready afterwards.
			if calls.Add(1) == 1 {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		case "/v1.0/metadata":
			_, _ = w.Write([]byte(`{"id":"orders","runtimeVersion":"1.16.0"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)

	s, err := Connect(context.Background(), Options{
		AppID: "orders", HTTPPort: portOf(t, srv), GRPCPort: freePort(t), APIToken: "tok-1", WaitTimeout: 10 * time.Second,
	})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	require.NotNil(t, s.Client())
	require.GreaterOrEqual(t, calls.Load(), int32(2), "kept probing until healthy")

	require.NoError(t, s.Healthy(context.Background()))
	md, err := s.Metadata(context.Background())
	require.NoError(t, err)
	require.Equal(t, "orders", md.ID)
	require.Equal(t, "1.16.0", md.RuntimeVersion)
	require.False(t, badToken.Load(), "every call carries the dapr-api-token")
}

func TestHealthyReportsStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	s := &Sidecar{http: srv.Client(), base: srv.URL}
	err := s.Healthy(context.Background())
	require.ErrorContains(t, err, "503")
}

// metadata116 is what a Dapr 1.16 sidecar answers on /v1.0/metadata.
const metadata116 = `{
  "id": "orchestrator",
  "runtimeVersion": "1.16.0",
  "enabledFeatures": ["SchedulerReminders"],
  "actors": [{"type": "dapr.internal.default.orchestrator.workflow", "count": 0}],
  "components": [
    {"name": "pubsub", "type": "pubsub.jetstream", "version": "v1", "capabilities": ["SUBSCRIBE_WILDCARDS"]},
    {"name": "statestore", "type": "state.sqlite", "version": "v1", "capabilities": ["ETAG", "TRANSACTIONAL", "TTL", "ACTOR"]}
  ],
  "httpEndpoints": [],
  "subscriptions": [
    {"pubsubname": "pubsub", "topic": "partition-done", "rules": {"rules": [{"match": "", "path": "/events/partition-done"}]}, "type": "PROGRAMMATIC"},
    {"pubsubname": "pubsub", "topic": "probe", "rules": {"rules": [{"match": "", "path": "/events/probe"}]}, "type": "PROGRAMMATIC"}
  ],
  "extended": {"appCommand": "", "appPID": "4242", "cliPID": "", "daprRuntimeVersion": "1.16.0"},
  "appConnectionProperties": {
    "port": 6001,
    "protocol": "http",
    "channelAddress": "127.0.0.1",
    "health": {"healthCheckPath": "/readyz", "healthProbeInterval": "5s", "healthProbeTimeout": "500ms", "healthThreshold": 3, "appHealthStatus": "HEALTHY"}
  },
  "actorRuntime": {
    "runtimeStatus": "RUNNING",
    "activeActors": [{"type": "dapr.internal.default.orchestrator.workflow", "count": 0}],
    "hostReady": true,
    "placement": "placement: connected"
  },
  "scheduler": {"connected_addresses": ["127.0.0.1:17030"]},
  "workflows": {"connectedWorkers": 1}
}`

func TestFetchMetadata(t *testing.T) {
	seen := make(chan [2]string, 1) // path, token
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- [2]string{r.URL.Path, r.Header.Get("dapr-api-token")}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(metadata116))
	}))
	t.Cleanup(srv.Close)

	md, err := FetchMetadata(context.Background(), srv.Client(), srv.URL, "secret-token")
	require.NoError(t, err)
	require.Equal(t, [2]string{"/v1.0/metadata", "secret-token"}, <-seen)

	require.Equal(t, "orchestrator", md.ID)
	require.Equal(t, "1.16.0", md.RuntimeVersion)
	require.Equal(t, []string{"SchedulerReminders"}, md.EnabledFeatures)
	require.Equal(t, []Component{
		{Name: "pubsub", Type: "pubsub.jetstream", Version: "v1"},
		{Name: "statestore", Type: "state.sqlite", Version: "v1"},
	}, md.Components)
	require.Equal(t, []Subscription{
		{PubsubName: "pubsub", Topic: "partition-done"},
		{PubsubName: "pubsub", Topic: "probe"},
	}, md.Subscriptions)
	require.NotNil(t, md.AppConnection)
	require.Equal(t, 6001, md.AppConnection.Port)
	require.Equal(t, "http", md.AppConnection.Protocol)
	require.NotNil(t, md.AppConnection.Health)
	require.Equal(t, "HEALTHY", md.AppConnection.Health.HealthStatus)
	require.NotNil(t, md.ActorRuntime)
	require.Equal(t, "RUNNING", md.ActorRuntime.RuntimeStatus)
	require.Equal(t, "placement: connected", md.ActorRuntime.Placement)
	require.True(t, md.PlacementConnected)
	require.JSONEq(t, `{"appCommand":"","appPID":"4242","cliPID":"","daprRuntimeVersion":"1.16.0"}`, string(md.Extended))
}

func TestFetchMetadataPlacement(t *testing.T) {
	tests := []struct {
		name string
		body string
		want bool
	}{
		{"connected", `{"actorRuntime":{"runtimeStatus":"RUNNING","placement":"placement: connected"}}`, true},
		{"disconnected", `{"actorRuntime":{"runtimeStatus":"RUNNING","placement":"placement: disconnected"}}`, false},
		{"no actor runtime", `{"id":"health"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(tt.body))
			}))
			t.Cleanup(srv.Close)
			md, err := FetchMetadata(context.Background(), srv.Client(), srv.URL, "")
			require.NoError(t, err)
			require.Equal(t, tt.want, md.PlacementConnected)
		})
	}
}

func TestFetchMetadataErrors(t *testing.T) {
	t.Run("non-200", func(t *testing.T) {
		var sawToken atomic.Bool
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sawToken.Store(r.Header.Get("dapr-api-token") != "")
			http.Error(w, "forbidden", http.StatusForbidden)
		}))
		t.Cleanup(srv.Close)
		md, err := FetchMetadata(context.Background(), srv.Client(), srv.URL, "")
		require.Nil(t, md)
		require.ErrorContains(t, err, srv.URL)
		require.ErrorContains(t, err, "403")
		require.False(t, sawToken.Load(), "no token header when no token is set")
	})
	t.Run("not json", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`<html>`))
		}))
		t.Cleanup(srv.Close)
		_, err := FetchMetadata(context.Background(), srv.Client(), srv.URL, "")
		require.ErrorContains(t, err, "decode dapr metadata from "+srv.URL)
	})
	t.Run("nothing listening", func(t *testing.T) {
		base := "http://127.0.0.1:" + strconv.Itoa(freePort(t))
		_, err := FetchMetadata(context.Background(), &http.Client{Timeout: 2 * time.Second}, base, "")
		require.ErrorContains(t, err, base)
		var opErr *net.OpError
		require.True(t, errors.As(err, &opErr), "keeps the network error: %v", err)
	})
}
