package e2e

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
)

// TestStackLocalProfile starts the stack the way `make run` does (the
// devstack binary, embedded default profile), runs the foundation contract
// against it, then presses Ctrl-C and checks nothing is left running.
func TestStackLocalProfile(t *testing.T) {
	t.Parallel()
	r := root(t)
	const base = 20000
	dataDir := stackDataDir(t)
	pw := writeSecrets(t, dataDir)

	cmd := exec.Command(filepath.Join(r, "bin", "devstack"))
	cmd.Dir = r
	cmd.Env = append(os.Environ(), "DATA_DIR="+dataDir, "SA_PORT_BASE="+strconv.Itoa(base), "PROFILE=local", "QUIET=1")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGKILL)
		}
		if t.Failed() {
			dumpLogs(t, dataDir)
		}
	})

	var transcript []string
	waitFor := func(what string, timeout time.Duration) {
		t.Helper()
		deadline := time.After(timeout)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("devstack exited before %q:\n%s", what, strings.Join(transcript, "\n"))
				}
				transcript = append(transcript, l)
				if strings.Contains(l, what) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q within %s:\n%s", what, timeout, strings.Join(transcript, "\n"))
			}
		}
	}
	waitFor("Press Ctrl-C to stop.", 4*time.Minute)
	summary := strings.Join(transcript, "\n")
	for _, app := range stack.Apps {
		// APP, APP PORT, SIDECAR HTTP, SIDECAR gRPC, SIDECAR METRICS, STATUS.
		require.Regexp(t, `(?m)^`+app+`\s+\d+\s+\d+\s+\d+\s+\d+\s+healthy\s`, summary, "summary line for %s", app)
	}
	// Where to scrape every process, and the scrape configuration.
	for _, want := range []string{"metrics: every process serves Prometheus text on /metrics", "scrape them all: prometheus --config.file="} {
		require.Contains(t, summary, want)
	}

	layout, err := stack.NewLayout(r, "local", base)
	require.NoError(t, err)
	tokens, err := stack.ReadTokens(dataDir)
	require.NoError(t, err)
	checkStack(t, devstackEndpoints{Layout: layout, tokens: tokens}, pw)

	require.NotEmpty(t, processesIn(t, dataDir), "the stack's processes run in its data dir")
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	go func() {
		for l := range lines {
			transcript = append(transcript, l)
		}
	}()
	select {
	case err := <-exited:
		require.NoError(t, err, "devstack exit after Ctrl-C")
	case <-ctx.Done():
		t.Fatal("devstack did not stop within 90s of Ctrl-C")
	}
	require.Empty(t, processesIn(t, dataDir), "processes left after Ctrl-C")
}
