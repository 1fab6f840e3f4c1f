package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
	"github.com/secure-agent/secure-agent/libs/daprtest"
)

// TestNameResolverCleanupKeepsLiveSidecars runs real daprds sharing one
// SQLite name-resolution database, with the stack's own nameResolution
// settings except that the cleanup runs every second instead of every few
// minutes. components-contrib v1.16.5 deleted the live registrations at its
// first cleanup, so every sidecar died with "Host registration lost" (an
// hour after start in a real stack) and invocation failed with "no host
// found". Here the sidecars must stay up and resolvable through dozens of
// cleanups and several renewals, while the row of a sidecar that crashed is
// removed once it is stale.
func TestNameResolverCleanupKeepsLiveSidecars(t *testing.T) {
	t.Parallel()
	cfg, err := stack.LoadConfiguration(filepath.Join(root(t), "components", "config", "orchestrator.yaml"))
	require.NoError(t, err)
	nr := cfg.Spec.NameResolution
	require.NotNil(t, nr, "the stack's sidecars resolve app ids through SQLite")
	require.Equal(t, "sqlite", nr.Component)
	update, err := time.ParseDuration(nr.Configuration["updateInterval"])
	require.NoError(t, err, "updateInterval is set explicitly")

	db := filepath.Join(t.TempDir(), "nameresolution.db")
	conn := nr.Configuration["connectionString"]
	if i := strings.IndexByte(conn, '?'); i >= 0 {
		db += conn[i:] // keep the stack's pragmas
	}
	var lines []string
	for k, v := range nr.Configuration {
		switch k {
		case "connectionString":
			v = db
		case "cleanupInterval":
			v = "1s"
		}
		lines = append(lines, fmt.Sprintf("      %s: %q", k, v))
	}
	if _, ok := nr.Configuration["cleanupInterval"]; !ok {
		lines = append(lines, `      cleanupInterval: "1s"`)
	}
	config := "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: nrtest\nspec:\n  nameResolution:\n" +
		"    component: sqlite\n    version: v1\n    configuration:\n" + strings.Join(lines, "\n") + "\n"

	start := func(id string) *daprtest.Sidecar {
		return daprtest.Start(t, daprtest.Options{AppID: id, AppPort: serveAppID(t, id), Config: config})
	}
	a, b, crashed := start("nr-a"), start("nr-b"), start("nr-crashed")
	for _, sc := range []*daprtest.Sidecar{a, b, crashed} {
		require.Contains(t, sc.Log(), "Schedule expired data clean up every 1s", "the test's cleanup interval reached the resolver")
	}
	// A crash deregisters nothing: its row must go stale and be cleaned up.
	crashed.Kill()

	// Long enough for several renewals of each live row, about 40 cleanup
	// rounds, and for the crashed row to pass the two-interval threshold.
	deadline := time.Now().Add(2*update + 15*time.Second)
	calls := 0
	for time.Now().Before(deadline) {
		for _, sc := range []*daprtest.Sidecar{a, b} {
			require.False(t, sc.Exited(), "a live sidecar exited:\n%s", sc.Log())
		}
		require.Equal(t, "nr-b", invoke(t, a, "nr-b"))
		require.Equal(t, "nr-a", invoke(t, b, "nr-a"))
		calls += 2
		time.Sleep(250 * time.Millisecond)
	}

	logs := a.Log() + b.Log()
	require.NotContains(t, logs, "Host registration lost")
	require.NotContains(t, logs, "Failed to update host registration")
	removed := regexp.MustCompile(`Removed (\d+) expired rows`).FindAllStringSubmatch(logs, -1)
	total := 0
	for _, m := range removed {
		n, _ := strconv.Atoi(m[1])
		total += n
	}
	t.Logf("%d invocations resolved; %d cleanup rounds removed %d rows", calls, len(removed), total)
	require.GreaterOrEqual(t, len(removed), 10, "the cleanup ran round after round (once a second across the sidecars)")
	require.Equal(t, 1, total, "exactly the crashed sidecar's row was removed")
	status, body := invokeRaw(t, a, "nr-crashed")
	require.NotEqual(t, http.StatusOK, status)
	require.Contains(t, body, "no host found", "the crashed sidecar is no longer resolvable")
}

// serveAppID runs an app on loopback that answers every request with id.
func serveAppID(t *testing.T, id string) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, id) }),
		ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// invoke calls app's "whoami" through from's sidecar and returns the answer.
func invoke(t *testing.T, from *daprtest.Sidecar, app string) string {
	t.Helper()
	status, body := invokeRaw(t, from, app)
	require.Equal(t, http.StatusOK, status, "invoke %s: %s", app, body)
	return body
}

func invokeRaw(t *testing.T, from *daprtest.Sidecar, app string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, from.HTTPURL()+"/v1.0/invoke/"+app+"/method/whoami", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}
