package bootstrap

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/daprtest"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/httpserver"
	"github.com/secure-agent/secure-agent/libs/pubsub"
)

// TestRunWithTokens runs a service through Run beside a real daprd that
// requires an API token and sends an app token: everything that comes
// through the sidecar (pub/sub deliveries, service invocation, the
// subscription list) still works, the app refuses direct calls without the
// app token, and its client route takes the client token.
func TestRunWithTokens(t *testing.T) {
	const (
		daprTok   = "dapr-token-0123456789abcdef0123"
		appTok    = "app-token-0123456789abcdef01234"
		clientTok = "client-token-0123456789abcdef01"
	)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	appPort := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())

	sc := daprtest.Start(t, daprtest.Options{
		AppID: "guarded", AppPort: appPort,
		Resources: map[string]string{"pubsub.yaml": componentYAML("pubsub", "pubsub.in-memory", nil)},
		Env:       []string{"DAPR_API_TOKEN=" + daprTok, "APP_API_TOKEN=" + appTok},
	})

	delivered := make(chan string, 4)
	spec := Spec{
		Name: "guarded", DefaultAppPort: appPort, ClientRoutes: []string{"/v1/jobs"},
		Wire: func(ctx context.Context, d Deps) (func(context.Context) error, error) {
			d.Router.Subscribe("greetings", "", func(_ context.Context, ev pubsub.Event) error {
				var s string
				if err := ev.Decode(&s); err != nil {
					return errkind.Wrap(errkind.Invalid, err, "decode")
				}
				delivered <- s
				return nil
			})
			d.App.Get("/v1/jobs", func(c *fiber.Ctx) error {
				return c.SendString("via sidecar: " + strconv.FormatBool(httpserver.FromSidecar(c)))
			})
			d.App.Get("/v1/private", func(c *fiber.Ctx) error { return c.SendString("private") })
			d.App.Post("/v1/publish", func(c *fiber.Ctx) error {
				return d.Publisher.Publish(c.UserContext(), "greetings", string(c.Body()))
			})
			return nil, nil
		},
	}
	env := map[string]string{
		"APP_PORT": strconv.Itoa(appPort), "DAPR_HTTP_PORT": strconv.Itoa(sc.HTTPPort), "DAPR_GRPC_PORT": strconv.Itoa(sc.GRPCPort),
		"DAPR_API_TOKEN": daprTok, "APP_API_TOKEN": appTok, "CLIENT_API_TOKEN": clientTok, "DAPR_WAIT_TIMEOUT": "30s",
		"AUDIT": "off", // one app alone: no audit writer
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, spec, nil, envOf(env)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Error("Run did not return within 20s of cancel")
		}
	})

	app := "http://127.0.0.1:" + strconv.Itoa(appPort)
	call := func(method, url, body string, hdr map[string]string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		require.NoError(t, err)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Ready once the sidecar sees the app's subscriptions (it read
	// /dapr/subscribe, which needs the app token).
	require.Eventually(t, func() bool {
		code, body := call(http.MethodGet, sc.HTTPURL()+"/v1.0/metadata", "", map[string]string{"dapr-api-token": daprTok})
		return code == http.StatusOK && strings.Contains(body, `"greetings"`)
	}, 30*time.Second, 100*time.Millisecond, "the sidecar never loaded the app's subscriptions")

	tok := map[string]string{"dapr-api-token": daprTok}
	code, body := call(http.MethodGet, sc.HTTPURL()+"/v1.0/invoke/guarded/method/v1/private", "", tok)
	require.Equal(t, http.StatusOK, code, "invocation through the sidecar: %s", body)
	require.Equal(t, "private", body)
	code, body = call(http.MethodGet, sc.HTTPURL()+"/v1.0/invoke/guarded/method/v1/jobs", "", tok)
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.Equal(t, "via sidecar: true", body)
	code, _ = call(http.MethodGet, sc.HTTPURL()+"/v1.0/invoke/guarded/method/v1/private", "", nil)
	require.Equal(t, http.StatusUnauthorized, code, "the sidecar's API wants its token")

	// Published by the app through its sidecar (gRPC, with DAPR_API_TOKEN),
	// delivered back by the sidecar (with APP_API_TOKEN).
	code, body = call(http.MethodPost, app+"/v1/publish", "hello", map[string]string{"dapr-api-token": appTok})
	require.Equal(t, http.StatusOK, code, "%s", body)
	select {
	case got := <-delivered:
		require.Equal(t, "hello", got)
	case <-time.After(10 * time.Second):
		t.Fatal("the published event was not delivered")
	}

	// Straight to the app: refused without the app token, except the probes.
	for _, p := range []string{"/v1/private", "/v1/sidecar", "/dapr/subscribe", "/events/greetings", "/v1/jobs"} {
		code, body := call(http.MethodGet, app+p, "", nil)
		require.Equal(t, http.StatusUnauthorized, code, "%s: %s", p, body)
	}
	code, body = call(http.MethodPost, app+"/events/greetings", `{"data":"forged"}`, map[string]string{"dapr-api-token": daprTok})
	require.Equal(t, http.StatusUnauthorized, code, "the sidecar's API token is not the app token: %s", body)
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		code, body := call(http.MethodGet, app+p, "", nil)
		require.Equal(t, http.StatusOK, code, "%s: %s", p, body)
	}
	code, body = call(http.MethodGet, app+"/v1/jobs", "", map[string]string{"Authorization": "Bearer " + clientTok})
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.Equal(t, "via sidecar: false", body)
	select {
	case got := <-delivered:
		t.Fatalf("a forged delivery reached the handler: %q", got)
	default:
	}
}
