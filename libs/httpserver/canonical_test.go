package httpserver

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"
)

func TestNonCanonical(t *testing.T) {
	for _, p := range []string{"/", "/v1/jobs", "/v1/jobs/job-1.r2", "/v1/deadletters/dl-0a:replay", "/v1/jobs/a%20b", "/healthz"} {
		require.Empty(t, nonCanonical(p), p)
	}
	for p, why := range map[string]string{
		"v1/jobs":                   "does not start with /",
		"/v1/jobs/../deadletters":   "dot segment",
		"/v1/jobs/./x":              "dot segment",
		"/v1/jobs/..":               "dot segment",
		"/v1//jobs":                 "empty segment",
		"/v1/jobs/":                 "empty segment",
		"/v1/jobs/%2e%2e/x":         "encoded separator",
		"/v1/jobs/%2E%2E%2Fx":       "encoded separator",
		"/v1/jobs/..%2fdeadletters": "encoded separator",
		"/v1/jobs/%5c..":            "encoded separator",
		"/v1/jobs/%252e%252e":       "encoded separator",
		"/v1/jobs\\..\\x":           "backslash",
		"/v1/jobs;x=1":              "semicolon",
		"/v1/jobs/%3b":              "encoded separator",
		"/v1/jobs/%00":              "encoded control character",
		"/v1/jobs/%0a":              "encoded control character",
		"/v1/jobs/%7F":              "encoded control character",
		"/v1/jobs/%2":               "truncated percent-encoding",
		"/v1/jobs/\x01":             "control character",
	} {
		require.Equal(t, why, nonCanonical(p), p)
	}
}

// TestTraversalNeverReachesAHandler sends the traversal forms over a raw
// connection (Go's client would clean some of them) to a server whose
// public route sits next to a guarded one: none reaches either handler.
func TestTraversalNeverReachesAHandler(t *testing.T) {
	var reached atomic.Int32
	r := start(t, Options{}, func(app *fiber.App) {
		app.Get("/v1/public/:id", func(c *fiber.Ctx) error { reached.Add(1); return c.SendString("public") })
		app.Get("/v1/guarded", func(c *fiber.Ctx) error { reached.Add(1); return c.SendString("guarded") })
	})
	for _, p := range []string{"/v1/public/../guarded", "/v1/public/..%2fguarded", "/v1/public/%2e%2e/guarded", "/v1/public/%2E%2E%2Fguarded", "/v1//guarded", "/v1/public/x/..\\..\\guarded"} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(r.base, "http://"))
		require.NoError(t, err)
		_, err = fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", p)
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		conn.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s: %s", p, body)
		require.Contains(t, string(body), "not canonical", p)
	}
	require.Zero(t, reached.Load(), "a handler ran for a non-canonical path")
	resp, body := r.get(t, "/v1/public/job-1.r2")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "public", string(body))
}
