package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
	"github.com/secure-agent/secure-agent/libs/model"
)

// cliRedisDB is this test's Redis database (9 and 10 are the other redis
// stacks'); dapr.env's 0 is left to people.
const cliRedisDB = 11

// TestDaprCLIRunFile does what deploy/local/dapr.yaml's header tells a
// Dapr CLI user, with the real CLI (bin/dapr, `make tools`): placement and
// scheduler started with the header's own command lines, dapr.env, a
// secrets file, the three tokens, DAPR_RUNTIME_PATH=bin, then
// `dapr run -f deploy/local/dapr.yaml`; the four apps must become healthy,
// the demo job must succeed, and Ctrl-C must stop every app and sidecar.
//
// It runs in a copy of the checkout's layout (the run file, dapr.env,
// components/, bin/ linked), so the CLI's .dapr/logs and data/ land in a
// temp dir, not in the checkout. The run file's ports are fixed (3501..,
// 6001.., 351x, and 50005/50006 for placement and scheduler, as `dapr
// init` has them); no other test uses them.
func TestDaprCLIRunFile(tt *testing.T) {
	tt.Parallel()
	t := repeatFailures(tt)
	r := root(t.T)
	for _, b := range []string{"dapr", "agentctl", "demodb"} {
		if _, err := os.Stat(filepath.Join(r, "bin", b)); err != nil {
			t.Fatalf("bin/%s is missing: run `make tools build` first", b)
		}
	}
	started := time.Now()
	tree := stackDataDir(t.T)
	for _, f := range []string{"dapr.yaml", "dapr.env", "secrets.sample.json"} {
		copyFile(t.T, filepath.Join(r, "deploy", "local", f), filepath.Join(tree, "deploy", "local", f))
	}
	require.NoError(t, os.CopyFS(filepath.Join(tree, "components"), os.DirFS(filepath.Join(r, "components"))))
	require.NoError(t, os.Symlink(filepath.Join(r, "bin"), filepath.Join(tree, "bin")))

	runFile, err := os.ReadFile(filepath.Join(tree, "deploy", "local", "dapr.yaml"))
	require.NoError(t, err)
	placement := headerCommand(t.T, string(runFile), "bin/placement")
	scheduler := headerCommand(t.T, string(runFile), "bin/scheduler")
	waitPortsFree(t.T, fixedPorts(t.T, string(runFile), placement, scheduler))
	flushRedisDB(t.T, "127.0.0.1:6379", cliRedisDB)
	t.Cleanup(func() { flushRedisDB(t.T, "127.0.0.1:6379", cliRedisDB) })

	// The control plane the CLI needs and does not start.
	var own []*exec.Cmd
	for _, c := range [][]string{placement, scheduler} {
		cmd := exec.Command(filepath.Join(tree, c[0]), c[1:]...)
		cmd.Dir = tree
		log := logFile(t.T, tree, filepath.Base(c[0]))
		cmd.Stdout, cmd.Stderr = log, log
		require.NoError(t, cmd.Start())
		own = append(own, cmd)
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		})
	}
	noCLI := func() string { return "" }
	waitHealthzOrExit(t, "placement", "http://127.0.0.1:"+flagValue(t.T, placement, "--healthz-port")+"/healthz", nil, noCLI)
	waitHealthzOrExit(t, "scheduler", "http://127.0.0.1:"+flagValue(t.T, scheduler, "--healthz-port")+"/healthz", nil, noCLI)

	// The header's steps, in a shell as a user runs them.
	require.NoError(t, os.MkdirAll(filepath.Join(tree, "data"), 0o700))
	clientToken := randomHex(t.T, 32)
	script := strings.Join([]string{
		"set -eu",
		"cp -n deploy/local/secrets.sample.json data/secrets.json",
		"set -a; . deploy/local/dapr.env; set +a",
		"export SA_REDIS_DB=" + strconv.Itoa(cliRedisDB),
		"export DAPR_RUNTIME_PATH=$PWD/bin",
		"exec bin/dapr run -f deploy/local/dapr.yaml",
	}, "\n")
	cli := exec.Command("bash", "-c", script)
	cli.Dir = tree
	cli.Env = append(os.Environ(), "DAPR_API_TOKEN="+randomHex(t.T, 32), "APP_API_TOKEN="+randomHex(t.T, 32), "CLIENT_API_TOKEN="+clientToken)
	out, err := cli.StdoutPipe()
	require.NoError(t, err)
	cli.Stderr = cli.Stdout
	require.NoError(t, cli.Start())
	var (
		mu         sync.Mutex
		transcript []string
	)
	exited := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			mu.Lock()
			transcript = append(transcript, sc.Text())
			mu.Unlock()
		}
		exited <- cli.Wait()
	}()
	output := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(transcript, "\n")
	}
	t.Cleanup(func() {
		if cli.ProcessState == nil {
			// The CLI leads its own process group (it calls setpgid): end it all.
			_ = syscall.Kill(-cli.Process.Pid, syscall.SIGKILL)
		}
		if t.Failed() {
			t.Logf("---- dapr run -f output ----\n%s", tail(output(), 120))
			dumpCLILogs(t.T, tree)
		}
	})

	// The four apps and their sidecars, on the run file's ports.
	apps := appPorts(t.T, string(runFile))
	require.Len(t, apps, len(stack.Apps))
	for _, app := range stack.Apps {
		p, ok := apps[app]
		require.True(t, ok, "%s is not in the run file", app)
		waitHealthzOrExit(t, app+" sidecar", fmt.Sprintf("http://127.0.0.1:%d/v1.0/healthz", p.http), exited, output)
		waitHealthzOrExit(t, app, fmt.Sprintf("http://127.0.0.1:%d/healthz", p.app), exited, output)
	}
	t.Logf("four apps healthy under the Dapr CLI %s after start", time.Since(started).Round(time.Second))
	logs, err := filepath.Glob(filepath.Join(tree, ".dapr", "logs", "*_daprd_*.log"))
	require.NoError(t, err)
	require.Len(t, logs, len(stack.Apps), "daprdLogDestination: file writes under appDirPath/.dapr/logs")

	// The demo job, as `make run` submits it, through agentctl.
	db := filepath.Join(tree, "data", "demo", "retail.db")
	require.NoError(t, os.MkdirAll(filepath.Dir(db), 0o750))
	runTool(t, tree, nil, filepath.Join(r, "bin", "demodb"), db)
	spec := filepath.Join(tree, "data", "demo", "job.yaml")
	require.NoError(t, os.WriteFile(spec, []byte(strings.Join([]string{
		"version: 1", "name: demo", "connection: default/sqlite/demo",
		"source:", "  kind: sqlite", "  dsn: '" + db + "'", "",
	}, "\n")), 0o640))
	agentOut := runTool(t, tree, []string{
		"SA_API_TOKEN=" + clientToken,
		"SA_ORCHESTRATOR_URL=http://127.0.0.1:" + strconv.Itoa(apps["orchestrator"].app),
		"SA_DESTINATION_DIR=" + filepath.Join(tree, "data", "destination"),
	}, filepath.Join(r, "bin", "agentctl"), "run", spec, "--wait")
	m := regexp.MustCompile(`(?m)^job (\S+) succeeded: (\d+) assets in \S+$`).FindStringSubmatch(agentOut)
	require.NotNil(t, m, "agentctl run --wait:\n%s", agentOut)
	// The destination component writes under dapr.env's ./data, relative to
	// appDirPath, where the CLI starts daprd.
	dir := filepath.Join(tree, "data", "destination", "jobs", m[1])
	require.NoError(t, model.VerifyDir(dir))
	man, err := model.ReadManifest(dir)
	require.NoError(t, err)
	require.Equal(t, int64(47), man.Rows[model.KindTable], "the demo database has 40 tables and 7 views")
	t.Logf("demo job %s succeeded %s after start", m[1], time.Since(started).Round(time.Second))

	// Ctrl-C: the CLI stops the four apps and their sidecars.
	require.Len(t, processesIn(t.T, tree), 3+2*len(stack.Apps), "the CLI, placement, scheduler, four apps and four sidecars run in the tree")
	require.NoError(t, cli.Process.Signal(syscall.SIGINT))
	select {
	case err := <-exited:
		require.NoError(t, err, "dapr run -f after Ctrl-C:\n%s", tail(output(), 40))
	case <-time.After(60 * time.Second):
		t.Fatalf("dapr run -f did not stop within 60s of Ctrl-C:\n%s", tail(output(), 40))
	}
	var left []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		left = left[:0]
		for _, p := range processesIn(t.T, tree) {
			pid, _, _ := strings.Cut(p, " ")
			if pid != strconv.Itoa(own[0].Process.Pid) && pid != strconv.Itoa(own[1].Process.Pid) {
				left = append(left, p)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.Empty(t, left, "apps or sidecars left after Ctrl-C")
	// A member may still be exiting (its cmdline already empty, not yet a
	// zombie): it has until the same deadline to be gone.
	members := groupMembers(t.T, cli.Process.Pid)
	for len(members) > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		members = groupMembers(t.T, cli.Process.Pid)
	}
	require.Empty(t, members, "processes left in the CLI's process group")
	for _, app := range stack.Apps {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", apps[app].app), time.Second)
		if err == nil {
			c.Close()
		}
		require.Error(t, err, "%s still listens after Ctrl-C", app)
	}
	t.Logf("stopped %s after start", time.Since(started).Round(time.Second))
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o750))
	require.NoError(t, os.WriteFile(dst, b, 0o640))
}

// headerCommand is the command line the run file's header gives for bin
// (one line, `#` and indentation stripped).
func headerCommand(t *testing.T, runFile, bin string) []string {
	t.Helper()
	for _, l := range strings.Split(runFile, "\n") {
		if !strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Fields(strings.TrimPrefix(l, "#"))
		if len(f) > 1 && f[0] == bin {
			return f
		}
	}
	t.Fatalf("the run file's header gives no %s command", bin)
	return nil
}

func flagValue(t *testing.T, cmd []string, name string) string {
	t.Helper()
	for i, a := range cmd {
		if a == name && i+1 < len(cmd) {
			return cmd[i+1]
		}
	}
	t.Fatalf("%v has no %s", cmd, name)
	return ""
}

type cliAppPorts struct{ app, http, grpc int }

// appPorts reads each app's fixed ports from the run file.
func appPorts(t *testing.T, runFile string) map[string]cliAppPorts {
	t.Helper()
	out := map[string]cliAppPorts{}
	var id string
	re := regexp.MustCompile(`^\s+-?\s*(appID|appPort|daprHTTPPort|daprGRPCPort):\s*(\S+)\s*$`)
	for _, l := range strings.Split(runFile, "\n") {
		m := re.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if m[1] == "appID" {
			id = m[2]
			continue
		}
		n, err := strconv.Atoi(m[2])
		require.NoError(t, err, l)
		p := out[id]
		switch m[1] {
		case "appPort":
			p.app = n
		case "daprHTTPPort":
			p.http = n
		case "daprGRPCPort":
			p.grpc = n
		}
		out[id] = p
	}
	return out
}

// fixedPorts: the apps', their sidecars', and placement's and scheduler's
// (with the defaults the header leaves: placement's raft 8201, etcd's peer
// port from --etcd-initial-cluster).
func fixedPorts(t *testing.T, runFile string, placement, scheduler []string) []int {
	t.Helper()
	var ports []int
	for _, p := range appPorts(t, runFile) {
		require.True(t, p.app > 0 && p.http > 0 && p.grpc > 0, "%+v", p)
		ports = append(ports, p.app, p.http, p.grpc)
	}
	for _, c := range [][]string{placement, scheduler} {
		for i, a := range c {
			switch a {
			case "--port", "--healthz-port", "--metrics-port", "--etcd-client-port":
			default:
				continue
			}
			if i+1 < len(c) {
				n, err := strconv.Atoi(c[i+1])
				require.NoError(t, err, "%s %s", a, c[i+1])
				ports = append(ports, n)
			}
		}
	}
	return append(ports, 8201, 2380)
}

// waitPortsFree waits a little for a port an outgoing connection holds
// (50005 and up are in the ephemeral range) and fails naming the rest.
func waitPortsFree(t *testing.T, ports []int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var busy []string
		for _, p := range ports {
			ln, err := net.Listen("tcp", ":"+strconv.Itoa(p))
			if err != nil {
				busy = append(busy, strconv.Itoa(p))
				continue
			}
			ln.Close()
		}
		if len(busy) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ports of deploy/local/dapr.yaml in use: %s (a Dapr CLI run or `dapr init` containers on this machine?)", strings.Join(busy, ", "))
		}
		time.Sleep(time.Second)
	}
}

// waitHealthzOrExit polls url until it answers 2xx, failing early if the
// CLI exits (exited; nil before it starts) and printing its output.
func waitHealthzOrExit(t testing.TB, what, url string, exited <-chan error, output func() string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	var last string
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("dapr run -f exited (%v) before %s was healthy:\n%s", err, what, tail(output(), 60))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				cancel()
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		cancel()
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s not healthy at %s within 3m (last: %s):\n%s", what, url, last, tail(output(), 60))
}

func logFile(t *testing.T, dir, name string) *os.File {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "logs"), 0o750))
	f, err := os.OpenFile(filepath.Join(dir, "logs", name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

// runTool runs a repository binary in dir and fails with its output.
func runTool(t testing.TB, dir string, env []string, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %v:\n%s", filepath.Base(bin), args, out)
	return string(out)
}

// groupMembers lists live processes in process group pgid.
func groupMembers(t *testing.T, pgid int) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var found []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil || isZombie(string(stat)) {
			continue
		}
		// After the command name: state ppid pgrp ...
		i := strings.LastIndexByte(string(stat), ')')
		f := strings.Fields(string(stat)[i+1:])
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) {
			cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			found = append(found, e.Name()+" "+strings.ReplaceAll(string(cmd), "\x00", " "))
		}
	}
	return found
}

// dumpCLILogs prints the end of the sidecar logs the CLI wrote and of
// placement's and scheduler's.
func dumpCLILogs(t *testing.T, tree string) {
	files, _ := filepath.Glob(filepath.Join(tree, ".dapr", "logs", "*.log"))
	more, _ := filepath.Glob(filepath.Join(tree, "logs", "*.log"))
	for _, f := range append(files, more...) {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		t.Logf("---- last lines of %s ----\n%s", filepath.Base(f), tail(string(b), 25))
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
