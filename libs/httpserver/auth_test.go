package httpserver

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

const (
	appTok    = "app-token-0123456789abcdef0123456789"
	clientTok = "client-token-fedcba9876543210fedcba98"
)

// authRoutes answer whether the request came through the sidecar.
func authRoutes(app *fiber.App) {
	h := func(c *fiber.Ctx) error { return c.SendString(strconv.FormatBool(FromSidecar(c))) }
	app.Get("/v1/sidecar", h)
	app.Post("/events/probe", h)
	app.Get("/v1/jobs", h)
	app.Get("/v1/jobs/:id", h)
	app.Get("/v1/jobsx", h)
}

func TestAppTokenGuardsEveryRouteButProbesAndMetrics(t *testing.T) {
	r := start(t, Options{Registry: prometheus.NewRegistry(), Auth: Auth{AppToken: appTok}}, authRoutes)
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, body := r.get(t, p)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s is open: %s", p, body)
	}
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/v1/sidecar"}, {http.MethodPost, "/events/probe"}, {http.MethodGet, "/nosuchroute"},
		{http.MethodGet, "/v1/jobs"}, // no client routes configured: sidecar only
	} {
		for _, hdr := range []map[string]string{nil, {AppTokenHeader: "wrong"}, {"Authorization": "Bearer " + appTok}} {
			resp, body := r.do(t, c.method, c.path, hdr)
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s %s with %v: %s", c.method, c.path, hdr, body)
			e := decodeErrorBody(t, body)
			require.Equal(t, "unauthorized", e.Kind)
			require.Contains(t, e.Message, "APP_API_TOKEN")
			require.NotContains(t, string(body), appTok)
		}
	}
	resp, body := r.do(t, http.MethodPost, "/events/probe", map[string]string{AppTokenHeader: appTok})
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.Equal(t, "true", string(body))
}

func TestClientRoutesTakeTheBearerTokenOrTheSidecar(t *testing.T) {
	r := start(t, Options{Auth: Auth{AppToken: appTok, ClientToken: clientTok, ClientRoutes: []string{"/v1/jobs"},
		ClientHint: "the local stack keeps it in DATA_DIR/api-token"}}, authRoutes)

	for _, p := range []string{"/v1/jobs", "/v1/jobs/j-1"} {
		resp, body := r.get(t, p)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s without a token: %s", p, body)
		require.Equal(t, `Bearer realm="secure-agent"`, resp.Header.Get("WWW-Authenticate"))
		msg := decodeErrorBody(t, body).Message
		require.Contains(t, msg, "Authorization: Bearer <token>")
		require.Contains(t, msg, "DATA_DIR/api-token", "says where the token is")

		resp, body = r.do(t, http.MethodGet, p, map[string]string{"Authorization": "Bearer not-the-token"})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Contains(t, decodeErrorBody(t, body).Message, "not this service's token")
		require.NotContains(t, string(body), clientTok)

		resp, body = r.do(t, http.MethodGet, p, map[string]string{"Authorization": "Bearer " + clientTok})
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		require.Equal(t, "false", string(body), "a client is not the sidecar")

		resp, body = r.do(t, http.MethodGet, p, map[string]string{"authorization": "bearer  " + clientTok + " "})
		require.Equal(t, http.StatusOK, resp.StatusCode, "scheme is case-insensitive: %s", body)

		resp, body = r.do(t, http.MethodGet, p, map[string]string{AppTokenHeader: appTok})
		require.Equal(t, http.StatusOK, resp.StatusCode, "the sidecar (health's GET /v1/jobs by invocation): %s", body)
		require.Equal(t, "true", string(body))
	}
	// The client token opens the client routes only, and only whole segments.
	for _, p := range []string{"/v1/sidecar", "/v1/jobsx"} {
		resp, _ := r.do(t, http.MethodGet, p, map[string]string{"Authorization": "Bearer " + clientTok})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, p)
	}
}

func TestTokensUnsetOrHalfSet(t *testing.T) {
	t.Run("none: everything is served (tests, a sidecar without APP_API_TOKEN)", func(t *testing.T) {
		r := start(t, Options{Auth: Auth{ClientRoutes: []string{"/v1/jobs"}}}, authRoutes)
		for _, p := range []string{"/v1/sidecar", "/v1/jobs"} {
			resp, body := r.get(t, p)
			require.Equal(t, http.StatusOK, resp.StatusCode, p)
			require.Equal(t, "false", string(body))
		}
	})
	t.Run("client token only: it is still enforced", func(t *testing.T) {
		r := start(t, Options{Auth: Auth{ClientToken: clientTok, ClientRoutes: []string{"/v1/jobs"}}}, authRoutes)
		resp, _ := r.get(t, "/v1/jobs")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		resp, _ = r.do(t, http.MethodGet, "/v1/jobs", map[string]string{AppTokenHeader: "anything"})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "no app token configured: nobody is the sidecar")
		resp, _ = r.do(t, http.MethodGet, "/v1/jobs", map[string]string{"Authorization": "Bearer " + clientTok})
		require.Equal(t, http.StatusOK, resp.StatusCode)
	})
	t.Run("app token only: client routes are the sidecar's", func(t *testing.T) {
		r := start(t, Options{Auth: Auth{AppToken: appTok, ClientRoutes: []string{"/v1/jobs"}}}, authRoutes)
		resp, _ := r.do(t, http.MethodGet, "/v1/jobs", map[string]string{"Authorization": "Bearer "})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		resp, _ = r.do(t, http.MethodGet, "/v1/jobs", map[string]string{AppTokenHeader: appTok})
		require.Equal(t, http.StatusOK, resp.StatusCode)
	})
}

func TestTokenEqual(t *testing.T) {
	require.True(t, tokenEqual("abc", "abc"))
	require.False(t, tokenEqual("abc", "abd"))
	require.False(t, tokenEqual("abc", "abcd"))
	require.False(t, tokenEqual("", "abc"))
}
