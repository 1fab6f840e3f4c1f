package ports

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/bootstrap"
	"github.com/secure-agent/secure-agent/libs/daprclient"
	"github.com/secure-agent/secure-agent/libs/daprtest"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/probe"
	"github.com/secure-agent/secure-agent/libs/pubsub"
	"github.com/secure-agent/secure-agent/services/health/internal/app"
)

func component(name, typ string, md map[string]string) string {
	s := fmt.Sprintf("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: %s\nspec:\n  type: %s\n  version: v1\n  metadata:\n", name, typ)
	if len(md) == 0 {
		return s + "    []\n"
	}
	for k, v := range md {
		s += fmt.Sprintf("    - name: %s\n      value: %q\n", k, v)
	}
	return s
}

// appUnderTest is an app whose port is bound before its daprd starts and
// which serves once its routes are added, as bootstrap.Run does.
type appUnderTest struct {
	ln  net.Listener
	app *fiber.App
}

func newApp(t *testing.T) *appUnderTest {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	// Errors answer the status of their kind, as libs/httpserver does.
	a := &appUnderTest{ln: ln, app: fiber.New(fiber.Config{DisableStartupMessage: true,
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			return c.Status(errkind.HTTPStatus(errkind.Of(err))).JSON(fiber.Map{"error": err.Error()})
		}})}
	// Registered before daprd's cleanup so it runs after it: daprd may
	// hold a connection open that Shutdown would otherwise wait for.
	t.Cleanup(func() { _ = a.app.ShutdownWithTimeout(5 * time.Second) })
	return a
}

func (a *appUnderTest) port() int { return a.ln.Addr().(*net.TCPAddr).Port }

func (a *appUnderTest) serve() { go func() { _ = a.app.Listener(a.ln) }() }

func connect(t *testing.T, appID string, sc *daprtest.Sidecar) *daprclient.Sidecar {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := daprclient.Connect(ctx, daprclient.Options{AppID: appID, HTTPPort: sc.HTTPPort, GRPCPort: sc.GRPCPort})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// TestStatusThroughRealSidecars runs health's GET /v1/status against a real
// watched app behind its own daprd, reached by service invocation,
// with the broker round trip through health's real daprd: an in-memory
// broker, so the probe is answered by a responder inside the health app
// under the watched app's name.
func TestStatusThroughRealSidecars(t *testing.T) {
	// Sidecars find each other by mDNS, as in the local stack; the
	// address they announce is loopback. The ids are unique so that a
	// stack running on this host is never invoked instead (nor ours by it).
	env := []string{"DAPR_HOST_IP=127.0.0.1"}
	suffix := fmt.Sprintf("%x", time.Now().UnixNano())
	orchID, healthID := "sa-test-orch-"+suffix, "sa-test-health-"+suffix

	// The watched app: readiness we can switch off, and the sidecar report.
	orch := newApp(t)
	var notReady atomic.Bool
	orch.app.Get("/readyz", func(c *fiber.Ctx) error {
		if notReady.Load() {
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "not ready", "checks": fiber.Map{"db": "down"}})
		}
		return c.JSON(fiber.Map{"status": "ready", "checks": fiber.Map{"dapr_sidecar": "ok"}})
	})
	staging := filepath.Join(t.TempDir(), "staging")
	require.NoError(t, os.MkdirAll(staging, 0o700))
	orchSC := daprtest.Start(t, daprtest.Options{
		AppID: orchID, AppPort: orch.port(), Env: env,
		Resources: map[string]string{
			"state.yaml":   component("statestore", "state.in-memory", nil),
			"staging.yaml": component("staging", "bindings.localstorage", map[string]string{"rootPath": staging}),
		},
	})
	bootstrap.RegisterSidecarReport(orch.app, orchID, connect(t, orchID, orchSC), nil)
	orch.serve()

	// Health itself.
	health := newApp(t)
	secretsFile := filepath.Join(t.TempDir(), "secrets.json")
	require.NoError(t, os.WriteFile(secretsFile, []byte(`{}`), 0o600))
	healthSC := daprtest.Start(t, daprtest.Options{
		AppID: healthID, AppPort: health.port(), Env: env,
		Resources: map[string]string{
			"pubsub.yaml":  component("pubsub", "pubsub.in-memory", nil),
			"secrets.yaml": daprtest.LocalFileSecretStore("secrets", secretsFile),
		},
	})
	side := connect(t, healthID, healthSC)
	router, err := pubsub.NewRouter(health.app, "pubsub", nil, nil)
	require.NoError(t, err)
	publisher := pubsub.NewPublisher(side.Client(), "pubsub")
	prober := app.NewBrokerProber([]string{orchID}, publisher, 5*time.Second, nil)
	prober.Register(router)
	probe.RegisterResponder(router, orchID, publisher, time.Now)
	status := app.NewStatus([]string{orchID}, side,
		bootstrap.NewSidecarReporter(healthID, side, nil), app.NewRecentProbe(prober, 0, 5*time.Second))
	Register(health.app, status, prober, 10*time.Second)
	health.serve()

	get := func(t *testing.T) (int, app.Report, string) {
		t.Helper()
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/v1/status", health.port()))
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		var r app.Report
		require.NoError(t, json.Unmarshal(body, &r), string(body))
		return resp.StatusCode, r, string(body)
	}

	// Subscriptions are read once the app serves; wait until the broker
	// round trip works before judging the rest.
	var code int
	var r app.Report
	var body string
	for deadline := time.Now().Add(30 * time.Second); ; {
		code, r, body = get(t)
		if r.Status == app.OK {
			break
		}
		require.True(t, time.Now().Before(deadline), "status never became ok: %s\n%s", body, healthSC.Log())
		time.Sleep(200 * time.Millisecond) // polling interval, not a race fix
	}
	require.Equal(t, http.StatusOK, code, body)
	require.True(t, r.Healthy)
	require.Empty(t, r.Problems)
	require.True(t, r.Sidecar.Healthy)

	o := r.Apps[orchID]
	require.True(t, o.Ready, o.Error)
	require.JSONEq(t, `{"dapr_sidecar":"ok"}`, string(o.Checks))
	require.NotNil(t, o.Sidecar, o.SidecarError)
	require.Equal(t, orchID, o.Sidecar.AppID)
	require.True(t, o.Sidecar.Sidecar.Healthy)
	require.True(t, o.Sidecar.Sidecar.AppConnected)
	checks := map[string]string{}
	for _, c := range o.Sidecar.Components {
		checks[c.Name] = c.Check
	}
	require.Equal(t, map[string]string{"statestore": "ok", "staging": "ok"}, checks)

	require.NotNil(t, r.Self)
	require.Equal(t, healthID, r.Self.AppID)
	self := map[string]string{}
	for _, c := range r.Self.Components {
		self[c.Name] = c.Check
	}
	require.Equal(t, map[string]string{"pubsub": "loaded", "secrets": "loaded"}, self)

	require.NotNil(t, r.Broker)
	require.True(t, r.Broker.OK, r.Broker.Error)
	require.True(t, r.Broker.Apps[orchID].Acked)
	require.Equal(t, map[string]app.ObjectStoreStatus{
		"staging": {Type: "bindings.localstorage", Check: "ok", Apps: map[string]string{orchID: "ok"}},
	}, r.ObjectStores)

	// The staging root turns into a file: still ready, but degraded.
	require.NoError(t, os.RemoveAll(staging))
	require.NoError(t, os.WriteFile(staging, []byte("x"), 0o600))
	code, r, body = get(t)
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, app.Degraded, r.Status, body)
	require.True(t, r.Healthy)
	require.Len(t, r.Problems, 1, body)
	require.True(t, strings.HasPrefix(r.Problems[0], orchID+": component staging (bindings.localstorage): read a missing object: "), r.Problems[0])
	require.Contains(t, r.Problems[0], "not a directory")
	require.Equal(t, "error", r.ObjectStores["staging"].Check)

	// The app reports not ready: down, and 503.
	notReady.Store(true)
	code, r, body = get(t)
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	require.Equal(t, app.Down, r.Status)
	require.False(t, r.Healthy)
	require.Equal(t, orchID+": not ready: readyz answered 503 through service invocation", r.Problems[0])
	require.JSONEq(t, `{"db":"down"}`, string(r.Apps[orchID].Checks))
}
