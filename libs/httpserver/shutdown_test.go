package httpserver

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"
)

// An idle connection (opened, no request: what a sidecar keeps) must not
// hold shutdown for the read timeout; a request in flight must finish.
func TestShutdownWaitsForRequestsNotIdleConnections(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	r := start(t, Options{ShutdownTimeout: 10 * time.Second}, func(app *fiber.App) {
		app.Get("/slow", func(c *fiber.Ctx) error {
			close(entered)
			<-release
			return c.SendString("done")
		})
	})
	idle, err := net.Dial("tcp", strings.TrimPrefix(r.base, "http://"))
	require.NoError(t, err)
	defer idle.Close()

	answered := make(chan string, 1)
	go func() {
		_, body := r.get(t, "/slow")
		answered <- string(body)
	}()
	<-entered
	r.cancel()
	select {
	case <-r.done:
		t.Fatal("shutdown returned while a request was in flight")
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	require.Equal(t, "done", <-answered, "the in-flight request finished")
	select {
	case err := <-r.done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown waited for the idle connection")
	}
	r.done <- nil // for start's cleanup
}
