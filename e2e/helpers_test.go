package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
)

// root is the checkout: bin/ and components/ live there.
func root(t *testing.T) string {
	t.Helper()
	r := os.Getenv("SA_ROOT")
	if r == "" {
		r = ".."
	}
	abs, err := filepath.Abs(r)
	require.NoError(t, err)
	for _, b := range []string{"daprd", "sentry", "placement", "scheduler", "nats-server", "orchestrator", "extractor", "publisher", "health", "devstack"} {
		if _, err := os.Stat(filepath.Join(abs, "bin", b)); err != nil {
			t.Fatalf("bin/%s is missing: run `make tools build` (or `make test`) first", b)
		}
	}
	return abs
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// writeSecrets gives a stack its own secrets file with a unique value, so a
// test proves the value came from this file and not from anywhere else.
func writeSecrets(t *testing.T, dataDir string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(dataDir, 0o700))
	pw := "canary-" + randomHex(t, 12)
	b, err := json.Marshal(map[string]string{
		"demo-source-password": pw,
		// The canary job reads MariaDB on loopback with it.
		"demo-source-password:allowed_hosts": "127.0.0.1:3306",
		"controlplane-client-id":             "test-client",
		"controlplane-client-secret":         "test-secret-" + randomHex(t, 8),
	})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dataDir, "secrets.json"), b, 0o600))
	return pw
}

type answer struct {
	Status int
	Body   []byte
}

func (a answer) JSON(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(a.Body, v), "body: %s", a.Body)
}

func do(t *testing.T, method, url string) answer {
	t.Helper()
	return doWith(t, method, url, nil)
}

// doWith sends hdr too: a sidecar's dapr-api-token, a client's bearer token.
func doWith(t *testing.T, method, url string, hdr map[string]string) answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "%s %s", method, url)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{Status: resp.StatusCode, Body: b}
}

// processesIn lists live processes whose working directory is dir: every
// child of the stack runs there, so after a stop the list must be empty.
func processesIn(t *testing.T, dir string) []string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(dir)
	require.NoError(t, err)
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var found []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil || cwd != dir {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && isZombie(string(stat)) {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		found = append(found, strconv.Itoa(pid)+" "+strings.ReplaceAll(string(cmd), "\x00", " "))
	}
	return found
}

func isZombie(stat string) bool {
	i := strings.LastIndexByte(stat, ')')
	return i > 0 && len(stat) > i+2 && stat[i+2] == 'Z'
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// startStack starts a stack in-process with its own data dir and ports.
func startStack(t *testing.T, profile string, portBase, redisDB int) (*stack.Stack, string) {
	t.Helper()
	dataDir := t.TempDir()
	pw := writeSecrets(t, dataDir)
	if profile == "redis" {
		// A new stack is a new installation: its audit log (and state)
		// must not meet an earlier run's in the same Redis database.
		flushRedisDB(t, "127.0.0.1:6379", redisDB)
	}
	logs := &testLog{t: t}
	s, err := stack.Start(context.Background(), stack.Options{
		Root: root(t), DataDir: dataDir, Profile: profile, PortBase: portBase,
		RedisHost: "127.0.0.1:6379", RedisDB: redisDB, StartTimeout: 3 * time.Minute,
		Progress: logs,
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, dataDir)
		}
		pids := s.Pids()
		require.NoError(t, s.Stop())
		for name, pid := range pids {
			require.False(t, alive(pid), "%s (pid %d) still running after Stop", name, pid)
		}
		require.Empty(t, processesIn(t, dataDir), "processes left behind")
	})
	return s, pw
}

type testLog struct{ t *testing.T }

func (l *testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// dumpLogs prints the end of every process log of a failed test, since the
// data dir is removed with the test.
func dumpLogs(t *testing.T, dataDir string) {
	files, _ := filepath.Glob(filepath.Join(dataDir, "logs", "*.log"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 25 {
			lines = lines[len(lines)-25:]
		}
		t.Logf("---- last lines of %s ----\n%s", filepath.Base(f), strings.Join(lines, "\n"))
	}
}

// stackDataDir is a stack's data dir: a test temp dir, or, with
// SA_E2E_KEEP_DATA set, one kept after the test for a post-mortem (logs,
// state, the name-resolution database).
func stackDataDir(t *testing.T) string {
	t.Helper()
	if os.Getenv("SA_E2E_KEEP_DATA") == "" {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("", "sa-e2e-"+strings.ReplaceAll(t.Name(), "/", "_")+"-")
	require.NoError(t, err)
	t.Logf("data dir kept: %s", dir)
	return dir
}

// failureRecorder is t that remembers its failure messages and repeats
// them once the test's cleanups have dumped their logs: the tail of the
// output, all CI shows of a failing test, then names the failure.
type failureRecorder struct {
	*testing.T
	mu   sync.Mutex
	msgs []string
}

// repeatFailures must be called first in the test, so its cleanup runs
// after every other.
func repeatFailures(t *testing.T) *failureRecorder {
	r := &failureRecorder{T: t}
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if t.Failed() && len(r.msgs) > 0 {
			t.Logf("==== %s failed (repeated after the logs above) ====\n%s", t.Name(), tail(strings.Join(r.msgs, "\n"), 30))
		}
	})
	return r
}

func (r *failureRecorder) record(format string, args ...any) {
	r.mu.Lock()
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *failureRecorder) Errorf(format string, args ...any) {
	r.T.Helper()
	r.record(format, args...)
	r.T.Errorf(format, args...)
}

func (r *failureRecorder) Fatalf(format string, args ...any) {
	r.T.Helper()
	r.record(format, args...)
	r.T.Fatalf(format, args...)
}

// envInt is the positive integer in the environment variable name, or def
// when it is unset; anything else fails the test, naming the variable.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive whole number", name, v)
	}
	return n
}
