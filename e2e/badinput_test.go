package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
)

// runBin runs one of bin/'s programs with env and returns its exit code
// and output; it must end within the bound, never hang.
func runBin(t *testing.T, name string, bound time.Duration, env ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root(t), "bin", name))
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, ctx.Err(), "%s did not finish within %s:\n%s", name, bound, out)
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return code, string(out)
}

func TestServiceRefusesBadSettings(t *testing.T) {
	t.Parallel()
	for _, svc := range stack.Apps {
		code, out := runBin(t, svc, 10*time.Second,
			"APP_PORT=http", "LOG_LEVEL=loud", "DAPR_WAIT_TIMEOUT=soon", "DAPR_API_TOKEN=tok-must-not-leak")
		require.Equal(t, 1, code, "%s: %s", svc, out)
		for _, name := range []string{"APP_PORT", "LOG_LEVEL", "DAPR_WAIT_TIMEOUT"} {
			require.Contains(t, out, name, "%s must name %s", svc, name)
		}
		require.Contains(t, out, `"http"`, "the bad value is quoted")
		require.NotContains(t, out, "tok-must-not-leak")
	}
}

func TestServiceWithoutSidecarGivesUpClearly(t *testing.T) {
	t.Parallel()
	code, out := runBin(t, "extractor", 20*time.Second,
		"APP_PORT=20990", "DAPR_HTTP_PORT=20991", "DAPR_GRPC_PORT=20992", "DAPR_WAIT_TIMEOUT=2s")
	require.Equal(t, 1, code)
	require.Contains(t, out, `dapr sidecar for app "extractor"`)
	require.Contains(t, out, "127.0.0.1:20991")
	require.Contains(t, out, "--app-id extractor")
}

func TestLauncherRefusesBadSettings(t *testing.T) {
	t.Parallel()
	code, out := runBin(t, "devstack", 10*time.Second, "SA_ROOT="+root(t), "PROFILE=kafka", "SA_PORT_BASE=99999", "START_TIMEOUT=-1s")
	require.Equal(t, 1, code, out)
	for _, name := range []string{"PROFILE", "SA_PORT_BASE", "START_TIMEOUT"} {
		require.Contains(t, out, name)
	}
}

func TestLauncherFailsFastOnUnreachableRedis(t *testing.T) {
	t.Parallel()
	start := time.Now()
	code, out := runBin(t, "devstack", 30*time.Second,
		"SA_ROOT="+root(t), "DATA_DIR="+t.TempDir(), "PROFILE=redis", "SA_REDIS_HOST=127.0.0.1:1", "SA_PORT_BASE=22000", "QUIET=1")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "redis at 127.0.0.1:1 is unreachable")
	require.Less(t, time.Since(start), 20*time.Second)
}

// fakeRoot is a checkout whose components can be broken without touching
// the real one; bin/ is the real one.
func fakeRoot(t *testing.T) string {
	t.Helper()
	r := root(t)
	fr := t.TempDir()
	require.NoError(t, os.Symlink(filepath.Join(r, "bin"), filepath.Join(fr, "bin")))
	require.NoError(t, os.CopyFS(filepath.Join(fr, "components"), os.DirFS(filepath.Join(r, "components"))))
	require.NoError(t, os.Symlink(filepath.Join(r, "deploy"), filepath.Join(fr, "deploy"))) // the sample secret file
	return fr
}

func TestLauncherNamesABrokenComponentFile(t *testing.T) {
	t.Parallel()
	fr := fakeRoot(t)
	bad := filepath.Join(fr, "components", "local", "staging.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: staging\nspec:\n  version: v1\n  metadata:\n    - name: rootPath\n      envRef: NO_SUCH_VAR\n"), 0o600))
	code, out := runBin(t, "devstack", 15*time.Second, "SA_ROOT="+fr, "DATA_DIR="+t.TempDir(), "SA_PORT_BASE=22200")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "staging.yaml")
	require.Contains(t, out, "spec.type")
	require.Contains(t, out, "NO_SUCH_VAR")
}

// A component that is well formed but cannot start (its broker address is
// dead) must fail start-up with the sidecar's own reason, not hang.
func TestLauncherFailsFastWhenASidecarCannotLoadAComponent(t *testing.T) {
	t.Parallel()
	fr := fakeRoot(t)
	f := filepath.Join(fr, "components", "local", "pubsub.yaml")
	b, err := os.ReadFile(f)
	require.NoError(t, err)
	broken := strings.Replace(string(b), "      envRef: SA_NATS_URL", "      value: nats://127.0.0.1:1", 1)
	require.NotEqual(t, string(b), broken)
	require.NoError(t, os.WriteFile(f, []byte(broken), 0o600))
	start := time.Now()
	code, out := runBin(t, "devstack", 3*time.Minute, "SA_ROOT="+fr, "DATA_DIR="+t.TempDir(), "SA_PORT_BASE=22400", "QUIET=1", "START_TIMEOUT=150s")
	require.Equal(t, 1, code, out)
	require.Regexp(t, `\w+-dapr stopped during start-up \(exit status 1\); it reported:`, out)
	require.Contains(t, out, "INIT_COMPONENT_FAILURE")
	require.Contains(t, out, "pubsub (pubsub.jetstream/v1)")
	require.Less(t, time.Since(start), 150*time.Second, "should fail on the sidecar's exit, not on the start timeout:\n%s", out)
	t.Logf("launcher said:\n%s", out)
}
