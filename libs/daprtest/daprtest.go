// Package daprtest starts a real daprd for a test, with inline resources,
// in the style of dapr/dapr's integration tests: no app, no control plane
// unless asked, ports picked free, the process stopped at test end.
package daprtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Options describe the sidecar.
type Options struct {
	AppID string
	// Resources maps a file name to YAML (components, subscriptions, ...).
	Resources map[string]string
	// Env is added to daprd's environment (for envRef values).
	Env []string
	// Config is a Dapr Configuration YAML (secret scopes, ...); optional.
	Config string
	// AppPort, when set, is the app daprd talks to on 127.0.0.1 (for
	// subscriptions and invocation); the app must already listen on it.
	AppPort int
	// Args are extra daprd flags (e.g. --placement-host-address).
	Args []string
}

// Sidecar is a running daprd.
type Sidecar struct {
	HTTPPort, GRPCPort int
	Dir                string // resources dir and working dir
	log                *Buffer
	pid                int
	done               chan struct{} // closed when daprd has exited
}

// Exited reports whether daprd has stopped (crashed, or was killed).
func (s *Sidecar) Exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Kill ends daprd with SIGKILL, as a crash would: it deregisters nothing
// and closes nothing. It returns once the process is gone.
func (s *Sidecar) Kill() {
	_ = syscall.Kill(-s.pid, syscall.SIGKILL)
	<-s.done
}

// HTTPURL is the sidecar's HTTP API base.
func (s *Sidecar) HTTPURL() string { return fmt.Sprintf("http://127.0.0.1:%d", s.HTTPPort) }

// Log returns what daprd printed so far.
func (s *Sidecar) Log() string { return s.log.String() }

// Daprd finds bin/daprd: $SA_ROOT/bin/daprd, else the nearest bin/daprd
// above the working directory.
func Daprd(t testing.TB) string {
	t.Helper()
	if root := os.Getenv("SA_ROOT"); root != "" {
		return mustExist(t, filepath.Join(root, "bin", "daprd"))
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "bin", "daprd")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("bin/daprd not found above the test's directory: run `make tools` (or set SA_ROOT)")
		}
		dir = parent
	}
}

func mustExist(t testing.TB, p string) string {
	t.Helper()
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s: %v: run `make tools`", p, err)
	}
	return p
}

// Start runs daprd and waits until its outbound side is healthy (its
// components loaded), failing the test with daprd's output otherwise. A
// port taken by another process between choosing and binding it is
// retried with new ports.
func Start(t testing.TB, opts Options) *Sidecar {
	t.Helper()
	for attempt := 1; ; attempt++ {
		s, err := start(t, opts)
		if err == nil {
			return s
		}
		if attempt == 3 {
			t.Fatal(err)
		}
		t.Logf("daprd lost a port race, trying new ports: %v", err)
	}
}

var errPortTaken = errors.New("daprd could not bind a port another process took first")

func start(t testing.TB, opts Options) (*Sidecar, error) {
	t.Helper()
	if opts.AppID == "" {
		opts.AppID = "test"
	}
	dir := t.TempDir()
	res := filepath.Join(dir, "resources")
	if err := os.MkdirAll(res, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, body := range opts.Resources {
		if err := os.WriteFile(filepath.Join(res, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ports := freePorts(t, 5)
	s := &Sidecar{HTTPPort: ports[0], GRPCPort: ports[1], Dir: dir, log: &Buffer{}}
	cmd := exec.Command(Daprd(t),
		"--app-id", opts.AppID, "--resources-path", res,
		"--dapr-http-port", strconv.Itoa(ports[0]), "--dapr-grpc-port", strconv.Itoa(ports[1]),
		"--dapr-internal-grpc-port", strconv.Itoa(ports[2]), "--metrics-port", strconv.Itoa(ports[3]),
		"--profile-port", strconv.Itoa(ports[4]),
		"--dapr-listen-addresses", "127.0.0.1", "--dapr-internal-grpc-listen-address", "127.0.0.1",
		"--metrics-listen-address", "127.0.0.1", "--log-level", "info",
	)
	if opts.AppPort != 0 {
		cmd.Args = append(cmd.Args, "--app-port", strconv.Itoa(opts.AppPort), "--app-channel-address", "127.0.0.1")
	}
	cmd.Args = append(cmd.Args, "--max-body-size", "160Mi")
	cmd.Args = append(cmd.Args, opts.Args...)
	if opts.Config != "" {
		cfg := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(cfg, []byte(opts.Config), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd.Args = append(cmd.Args, "--config", cfg)
	}
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), opts.Env...)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start daprd: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.pid, s.done = cmd.Process.Pid, done
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if outboundHealthy(ctx, s.HTTPURL()) {
			return s, nil
		}
		select {
		case <-done:
			if strings.Contains(s.Log(), "address already in use") {
				return nil, errPortTaken
			}
			t.Fatalf("daprd exited during start-up:\n%s", s.Log())
		case <-ctx.Done():
			t.Fatalf("daprd not healthy within 60s:\n%s", s.Log())
		case <-tick.C:
		}
	}
}

func outboundHealthy(ctx context.Context, base string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1.0/healthz/outbound", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode/100 == 2
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// Buffer collects a process's or logger's output from several goroutines,
// to show when a test fails. Sync lets it back a zap logger.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Sync is a no-op (zapcore.WriteSyncer).
func (l *Buffer) Sync() error { return nil }

// LocalFileSecretStore is the YAML of a secretstores.local.file component
// named name reading file.
func LocalFileSecretStore(name, file string) string {
	return fmt.Sprintf(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: %s
spec:
  type: secretstores.local.file
  version: v1
  metadata:
    - name: secretsFile
      value: %q
`, name, file)
}
