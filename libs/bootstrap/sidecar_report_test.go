package bootstrap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/daprclient"
	"github.com/secure-agent/secure-agent/libs/daprtest"
)

func componentYAML(name, typ string, md map[string]string) string {
	s := fmt.Sprintf("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: %s\nspec:\n  type: %s\n  version: v1\n  metadata:\n", name, typ)
	if len(md) == 0 {
		return s + "    []\n"
	}
	for k, v := range md {
		s += fmt.Sprintf("    - name: %s\n      value: %q\n", k, v)
	}
	return s
}

// TestSidecarReportRealDaprd runs the report against a real daprd with one
// component of each family, an object store that breaks after start and an
// HTTP binding that must never be called; the route is reached through
// Dapr service invocation, the way health calls it.
func TestSidecarReportRealDaprd(t *testing.T) {
	staging := t.TempDir()
	broken := filepath.Join(t.TempDir(), "broken")
	require.NoError(t, os.MkdirAll(broken, 0o700))
	secretsFile := filepath.Join(t.TempDir(), "secrets.json")
	require.NoError(t, os.WriteFile(secretsFile, []byte(`{"pw":"hunter2"}`), 0o600))

	// As in Run: the port is bound before daprd starts (daprd probes it),
	// routes are added once the sidecar is connected, then the app serves.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	// Registered before daprd's cleanup so it runs after it: daprd may
	// hold a connection open that Shutdown would otherwise wait for.
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(5 * time.Second) })

	sc := daprtest.Start(t, daprtest.Options{
		AppID:   "reporter",
		AppPort: ln.Addr().(*net.TCPAddr).Port,
		Resources: map[string]string{
			"state.yaml":   componentYAML("statestore", "state.in-memory", nil),
			"pubsub.yaml":  componentYAML("pubsub", "pubsub.in-memory", nil),
			"staging.yaml": componentYAML("staging", "bindings.localstorage", map[string]string{"rootPath": staging}),
			"broken.yaml":  componentYAML("broken", "bindings.localstorage", map[string]string{"rootPath": broken}),
			"secrets.yaml": daprtest.LocalFileSecretStore("secrets", secretsFile),
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	side, err := daprclient.Connect(ctx, daprclient.Options{AppID: "reporter", HTTPPort: sc.HTTPPort, GRPCPort: sc.GRPCPort})
	require.NoError(t, err)
	defer side.Close()
	RegisterSidecarReport(app, "reporter", side, zap.NewNop())
	go func() { _ = app.Listener(ln) }()

	// The broken store's root becomes a file: every read now fails with
	// "not a directory", which is not a missing object.
	require.NoError(t, os.RemoveAll(broken))
	require.NoError(t, os.WriteFile(broken, []byte("x"), 0o600))

	resp, err := http.Get(sc.HTTPURL() + "/v1.0/invoke/reporter/method/v1/sidecar")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var rep SidecarReport
	dec := json.NewDecoder(resp.Body)
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&rep))

	require.Equal(t, "reporter", rep.AppID)
	require.True(t, rep.Sidecar.Healthy, rep.Sidecar.Error)
	require.Equal(t, "reporter", rep.Sidecar.ID)
	require.NotEmpty(t, rep.Sidecar.Version)
	require.True(t, rep.Sidecar.AppConnected)
	require.WithinDuration(t, time.Now(), rep.CheckedAt, time.Minute)

	byName := map[string]ComponentReport{}
	var names []string
	for _, c := range rep.Components {
		byName[c.Name] = c
		names = append(names, c.Name)
	}
	require.Equal(t, []string{"broken", "pubsub", "secrets", "staging", "statestore"}, names, "sorted by name")
	require.Equal(t, ComponentReport{Name: "statestore", Type: "state.in-memory", Version: "v1", Check: CheckOK}, byName["statestore"])
	require.Equal(t, ComponentReport{Name: "staging", Type: "bindings.localstorage", Version: "v1", Check: CheckOK}, byName["staging"])
	require.Equal(t, CheckLoaded, byName["secrets"].Check)
	require.Equal(t, CheckLoaded, byName["pubsub"].Check)

	b := byName["broken"]
	require.Equal(t, CheckError, b.Check)
	require.Contains(t, b.Detail, "read a missing object")
	require.Contains(t, b.Detail, "not a directory")
	require.Equal(t, []string{"component broken (bindings.localstorage): " + b.Detail}, rep.Problems())

	// Nothing was written by the checks.
	entries, err := os.ReadDir(staging)
	require.NoError(t, err)
	require.Empty(t, entries)
	raw, err := json.Marshal(rep)
	require.NoError(t, err)
	require.NotContains(t, string(raw), "hunter2")
}

// fakeSidecar and fakeReader drive the reporter where a real daprd cannot
// be made to misbehave on demand: an unhealthy sidecar, a hanging store,
// an actor runtime.
type fakeSidecar struct {
	healthErr error
	md        *daprclient.Metadata
	mdErr     error
}

func (f fakeSidecar) Healthy(context.Context) error { return f.healthErr }
func (f fakeSidecar) Metadata(context.Context) (*daprclient.Metadata, error) {
	return f.md, f.mdErr
}

type fakeReader struct {
	state   func(ctx context.Context, store string) error
	binding func(ctx context.Context, name string) error
}

func (f fakeReader) GetState(ctx context.Context, store, _ string, _ map[string]string) (*dapr.StateItem, error) {
	return &dapr.StateItem{}, f.state(ctx, store)
}

func (f fakeReader) InvokeBinding(ctx context.Context, in *dapr.InvokeBindingRequest) (*dapr.BindingEvent, error) {
	if in.Operation != "get" || in.Metadata["fileName"] != HealthKey {
		return nil, errors.New("unexpected binding call " + in.Operation)
	}
	return &dapr.BindingEvent{}, f.binding(ctx, in.Name)
}

func hang(ctx context.Context, _ string) error { <-ctx.Done(); return ctx.Err() }

func TestSidecarReportChecksAreBoundedAndClassified(t *testing.T) {
	md := &daprclient.Metadata{
		ID: "orchestrator", RuntimeVersion: "1.16.5",
		Components: []daprclient.Component{
			{Name: "slowstate", Type: "state.redis", Version: "v1"},
			{Name: "slowbucket", Type: "bindings.aws.s3", Version: "v1"},
			{Name: "blob", Type: "bindings.azure.blobstorage", Version: "v1"},
			{Name: "nopget", Type: "bindings.localstorage", Version: "v1"},
			{Name: "lock", Type: "lock.redis", Version: "v1"},
			// Not in our daprd, but in upstream's: a "get" would send a request.
			{Name: "webhook", Type: "bindings.http", Version: "v1"},
		},
		ActorRuntime:       &daprclient.ActorRuntime{RuntimeStatus: "RUNNING", Placement: "placement: connected"},
		PlacementConnected: true,
	}
	reader := fakeReader{
		state: hang,
		binding: func(ctx context.Context, name string) error {
			switch name {
			case "blob":
				return errors.New("rpc error: code = Unknown desc = BlobNotFound: the specified blob does not exist")
			case "nopget":
				return errors.New("binding nopget does not support operation get. supported operations:create")
			case "webhook":
				t.Errorf("the HTTP binding was invoked")
			}
			return hang(ctx, name)
		},
	}
	r := newSidecarReporter("orchestrator", fakeSidecar{md: md}, reader, 100*time.Millisecond, nil)
	start := time.Now()
	rep := r.Report(context.Background())
	require.Less(t, time.Since(start), 2*time.Second, "checks run in parallel, each bounded")

	require.True(t, rep.Sidecar.Healthy)
	require.Equal(t, &ActorsInfo{RuntimeStatus: "RUNNING", Placement: "placement: connected", PlacementConnected: true}, rep.Sidecar.Actors)
	got := map[string]ComponentReport{}
	for _, c := range rep.Components {
		got[c.Name] = c
	}
	require.Equal(t, CheckError, got["slowstate"].Check)
	require.Equal(t, "read a missing key: no answer within 100ms; check the store is up and reachable from the sidecar", got["slowstate"].Detail)
	require.Equal(t, CheckError, got["slowbucket"].Check)
	require.Contains(t, got["slowbucket"].Detail, "no answer within 100ms")
	require.Equal(t, CheckOK, got["blob"].Check, "a missing blob proves the store answers")
	require.Equal(t, CheckLoaded, got["nopget"].Check)
	require.Equal(t, CheckLoaded, got["lock"].Check)
	require.Equal(t, CheckLoaded, got["webhook"].Check)
	require.Contains(t, got["webhook"].Detail, "not an object store")
	require.Len(t, rep.Problems(), 2)

	// A running actor runtime without placement cannot run workflows.
	md.ActorRuntime.Placement, md.PlacementConnected = "placement: disconnected", false
	md.Components = nil
	rep = r.Report(context.Background())
	require.Equal(t, []string{"actor runtime running but not connected to placement: workflows and actors cannot run; check the placement service"}, rep.Problems())
	md.ActorRuntime.RuntimeStatus = "DISABLED"
	require.Empty(t, r.Report(context.Background()).Problems(), "no placement configured is not a problem")
}

func TestSidecarReportUnhealthySidecar(t *testing.T) {
	tests := []struct {
		name    string
		sc      fakeSidecar
		wantErr string
		comps   int
	}{
		{"outbound unhealthy", fakeSidecar{healthErr: errors.New("dapr sidecar outbound health answered 500"), md: &daprclient.Metadata{ID: "x"}},
			"dapr sidecar outbound health answered 500", 0},
		{"metadata unreadable", fakeSidecar{mdErr: errors.New("read dapr metadata from http://127.0.0.1:1: connection refused")},
			"read dapr metadata from http://127.0.0.1:1: connection refused", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := newSidecarReporter("x", tt.sc, fakeReader{}, time.Second, nil).Report(context.Background())
			require.False(t, rep.Sidecar.Healthy)
			require.Equal(t, tt.wantErr, rep.Sidecar.Error)
			require.Len(t, rep.Components, tt.comps)
			require.NotNil(t, rep.Components, "components is [] in JSON, never null")
			require.Equal(t, []string{"sidecar unhealthy: " + tt.wantErr}, rep.Problems())
		})
	}
}
