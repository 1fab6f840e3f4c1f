package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// jobRun is how a job command is run in a test.
type jobRun struct {
	ctx       context.Context
	env       map[string]string
	stdin     string
	width     int           // > 0: stderr is a terminal this wide
	lineEvery time.Duration // plain progress line period (default: an hour, so only state changes write)
}

func runJob(t *testing.T, o jobRun, args ...string) result {
	t.Helper()
	ctx := o.ctx
	if ctx == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
	}
	if o.lineEvery == 0 {
		o.lineEvery = time.Hour
	}
	var stdout, stderr bytes.Buffer
	code := Run(ctx, args, Env{
		Registry: testRegistry(), Version: "test-version",
		LookupEnv: func(k string) (string, bool) {
			v, ok := o.env[k]
			return v, ok
		},
		Stdin: strings.NewReader(o.stdin), Stdout: &stdout, Stderr: &stderr,
		WatchLineEvery: o.lineEvery,
		Terminal: func(io.Writer) (int, bool) {
			return o.width, o.width > 0
		},
	})
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func specFile(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name+".yaml")
	require.NoError(t, os.WriteFile(p, []byte(specYAML(name)), 0o600))
	return p
}

func specYAML(name string) string {
	return fmt.Sprintf("version: 1\nname: %s\nconnection: default/sqlite/demo\nsource:\n  kind: sqlite\n  dsn: /data/demo.db\n", name)
}

func lines(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") }

func lastLine(s string) string {
	l := lines(s)
	return l[len(l)-1]
}

// closedURL is an orchestrator address where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "http://" + addr
}

// localOutput makes a data dir holding job j-1's manifest where the local
// stack's destination binding writes it, and answers the dir and the file.
func localOutput(t *testing.T) (dataDir, manifest string) {
	t.Helper()
	dataDir = t.TempDir()
	manifest = filepath.Join(dataDir, "destination", "jobs", "j-1", "manifest.json")
	require.NoError(t, os.MkdirAll(filepath.Dir(manifest), 0o700))
	require.NoError(t, os.WriteFile(manifest, []byte("{}"), 0o600))
	return dataDir, manifest
}

func TestRunWaitSucceeded(t *testing.T) {
	f := newFakeOrchestrator(t)
	dataDir, manifest := localOutput(t)
	r := runJob(t, jobRun{env: map[string]string{orchestratorEnv: f.url(), "DATA_DIR": dataDir}}, "run", specFile(t, "ok"), "--wait", "--poll", "100ms")
	require.Equal(t, ExitOK, r.code, r.stderr)

	// stdout: the id, where the output is (in the stack's DATA_DIR, as an
	// absolute path), and the verdict last. The fake listens on loopback,
	// so it is taken for the local stack.
	require.Equal(t, []string{
		"j-1",
		"manifest: binding destination, key jobs/j-1/manifest.json (3 files, 1.3 KiB)",
		"output:   " + manifest,
		"changes: incremental: 7 created, 1 updated, 1 deleted, 440 unchanged, 3 deletion(s) withheld by a fail-safe (see the warnings)",
		"job j-1 succeeded: 1234 assets in 3.2s",
	}, lines(r.stdout))

	// Another data dir without that file: no made-up output path.
	other := runJob(t, jobRun{env: map[string]string{orchestratorEnv: f.url(), "DATA_DIR": t.TempDir()}}, "status", "j-1")
	require.Equal(t, ExitOK, other.code, other.stderr)
	require.NotContains(t, other.stdout, "output ")

	// stderr (not a terminal): one line per state or phase change, in order.
	progress := lines(r.stderr)
	require.Equal(t, "job j-1 submitted; watching it (Ctrl-C stops watching, not the job)", progress[0])
	progress = progress[1:]
	want := []*regexp.Regexp{
		regexp.MustCompile(`^job j-1: pending, assets 0, 0 assets/s, elapsed [0-9.hms]+$`),
		regexp.MustCompile(`^job j-1: running \(preflight\), assets 0, \d+ assets/s, elapsed [0-9.hms]+$`),
		regexp.MustCompile(`^job j-1: running \(extract\), partitions 0/3, assets 0, \d+ assets/s, elapsed [0-9.hms]+$`),
		regexp.MustCompile(`^job j-1: running \(finalize\), partitions 3/3, assets 1234 \(database=1 schema=3 table=210 column=1020\), \d+ assets/s, elapsed [0-9.hms]+$`),
		regexp.MustCompile(`^job j-1: succeeded, partitions 3/3, assets 1234 \(database=1 schema=3 table=210 column=1020\), \d+ assets/s, elapsed 3.2s$`),
	}
	require.Len(t, progress, len(want), r.stderr)
	for i, re := range want {
		require.Regexp(t, re, progress[i])
	}

	// What was sent is the spec as written, as YAML.
	require.Len(t, f.submissions, 1)
	require.Equal(t, "application/yaml", f.submissions[0].contentType)
	require.Equal(t, specYAML("ok"), f.submissions[0].body)
}

func TestRunWaitPeriodicLines(t *testing.T) {
	f := newFakeOrchestrator(t)
	// A line period shorter than the poll: every poll writes a line, so
	// the two polls in the extract phase both show, the second with counts.
	r := runJob(t, jobRun{env: map[string]string{orchestratorEnv: f.url()}, lineEvery: time.Nanosecond},
		"run", specFile(t, "ok"), "--wait", "--poll", "100ms")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Regexp(t, `(?m)^job j-1: running \(extract\), partitions 0/3, assets 0, `, r.stderr)
	require.Regexp(t, `(?m)^job j-1: running \(extract\), partitions 1/3, assets 1200 \(table=200 column=1000\), `, r.stderr)
	require.Len(t, lines(r.stderr), 7, r.stderr) // submitted + one per poll
}

func TestRunWaitFailedAndCancelled(t *testing.T) {
	f := newFakeOrchestrator(t)
	env := map[string]string{orchestratorEnv: f.url()}

	r := runJob(t, jobRun{env: env}, "run", specFile(t, "fail"), "--wait", "--poll", "100ms")
	require.Equal(t, ExitFailure, r.code, r.stderr)
	require.Equal(t, "job j-1 failed: partition p000 failed after 3 attempts: connection reset by peer", lastLine(r.stdout))
	require.NotContains(t, r.stdout, "manifest:")

	// A long job cancelled from another agentctl while this one watches.
	done := make(chan result)
	go func() { done <- runJob(t, jobRun{env: env}, "run", specFile(t, "long"), "--wait", "--poll", "100ms") }()
	waitPolls(t, f, "j-2", 3)
	c := runJob(t, jobRun{env: env}, "cancel", "j-2")
	require.Equal(t, ExitOK, c.code, c.stderr)
	require.Equal(t, "cancel requested for job j-2; it stops after its current step (`agentctl status j-2` shows when)\n", c.stdout)
	r = <-done
	require.Equal(t, ExitCancelled, r.code, r.stderr)
	require.Equal(t, "job j-2 cancelled", lastLine(r.stdout))
	require.Regexp(t, `(?m)^job j-2: cancelled, partitions 0/1, assets 1200`, r.stderr)

	// Cancelling it again: it has finished.
	c = runJob(t, jobRun{env: env}, "cancel", "j-2")
	require.Equal(t, ExitFailure, c.code)
	require.Equal(t, "agentctl cancel: job j-2 has already finished, nothing to cancel (job j-2 already cancelled (request id req-42)); `agentctl status j-2` shows how it ended\n", c.stderr)
	c = runJob(t, jobRun{env: env}, "cancel", "j-99")
	require.Equal(t, ExitFailure, c.code)
	require.Contains(t, c.stderr, `job j-99 not found (job "j-99" not found (request id req-42)); `+"`agentctl list`")
}

// waitPolls waits until the fake has answered n GETs of the job.
func waitPolls(t *testing.T, f *fakeOrchestrator, id string, n int) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for n > 0 {
		select {
		case got := <-f.polls:
			if got == id {
				n--
			}
		case <-timeout:
			t.Fatalf("job %s was not polled", id)
		}
	}
}

func TestRunWaitJSON(t *testing.T) {
	f := newFakeOrchestrator(t)
	r := runJob(t, jobRun{env: map[string]string{orchestratorEnv: f.url()}, stdin: specYAML("ok")},
		"run", "-", "--wait", "--json", "--poll", "100ms")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Equal(t, 1, strings.Count(r.stdout, "\n"), "stdout is one JSON line: %q", r.stdout)
	var st job.Status
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st))
	require.Equal(t, job.Succeeded, st.State)
	require.EqualValues(t, 1234, st.Assets)
	require.Equal(t, "jobs/j-1/manifest.json", st.Manifest.Key)
	require.Equal(t, "job j-1 succeeded: 1234 assets in 3.2s", lastLine(r.stderr), "the verdict moves to stderr")

	// Without --wait: the submission, as JSON.
	r = runJob(t, jobRun{env: map[string]string{orchestratorEnv: f.url()}, stdin: specYAML("ok")}, "run", "-", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.JSONEq(t, `{"id":"j-2","state":"pending"}`, r.stdout)
}

func TestRunWithoutWaitPrintsTheID(t *testing.T) {
	f := newFakeOrchestrator(t)
	jsonSpec := filepath.Join(t.TempDir(), "spec.json")
	require.NoError(t, os.WriteFile(jsonSpec, []byte(`{"version":1,"connection":"c/sqlite/x","source":{"kind":"sqlite","dsn":"x.db"}}`), 0o600))
	r := runJob(t, jobRun{}, "run", jsonSpec, "--orchestrator", f.url()+"/")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Equal(t, "j-1\n", r.stdout)
	require.Empty(t, r.stderr)
	require.Equal(t, "application/json", f.submissions[0].contentType)
}

func TestRunTimeoutAndInterrupt(t *testing.T) {
	f := newFakeOrchestrator(t)
	env := map[string]string{orchestratorEnv: f.url()}

	start := time.Now()
	r := runJob(t, jobRun{env: env}, "run", specFile(t, "long"), "--wait", "--poll", "100ms", "--timeout", "400ms")
	require.Equal(t, ExitFailure, r.code)
	require.Less(t, time.Since(start), 20*time.Second)
	require.Contains(t, r.stderr, "agentctl run: stopped waiting after 400ms: job j-1 is still running (extract) and keeps running; "+
		"follow it with `agentctl status j-1` or stop it with `agentctl cancel j-1`\n")

	// Ctrl-C while watching stops watching only.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result)
	go func() {
		done <- runJob(t, jobRun{ctx: ctx, env: env}, "run", specFile(t, "long"), "--wait", "--poll", "100ms")
	}()
	waitPolls(t, f, "j-2", 2)
	cancel()
	r = <-done
	require.Equal(t, ExitInterrupted, r.code)
	require.Equal(t, "stopped watching job j-2; it keeps running. Cancel it with: agentctl cancel j-2", lastLine(r.stderr))
	f.mu.Lock()
	require.False(t, f.jobs["j-2"].cancelled, "Ctrl-C does not cancel the job")
	f.mu.Unlock()
}

func TestRunRejectsAnInvalidSpecLocally(t *testing.T) {
	f := newFakeOrchestrator(t)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("version: 2\nconnection: \"\"\nsource:\n  kind: oracle\n  dsn: postgres://u:pw@h/db\npartitioning:\n  max_parallel: 100\n"), 0o600))
	r := runJob(t, jobRun{env: map[string]string{orchestratorEnv: f.url()}}, "run", bad, "--wait")
	require.Equal(t, ExitUsage, r.code)
	require.Empty(t, r.stdout)
	for _, w := range []string{
		"agentctl run: " + bad + ": invalid job spec:",
		"version: is 2",
		"connection: is empty",
		`source.kind: "oracle" is not a source kind`,
		"source.dsn: contains a password",
		"partitioning.max_parallel: is 100",
	} {
		require.Contains(t, r.stderr, w)
	}
	require.NotContains(t, r.stderr, "pw@", "the DSN is never echoed")
	require.Empty(t, f.submissions, "nothing is sent")

	r = runJob(t, jobRun{env: map[string]string{orchestratorEnv: f.url()}}, "run", filepath.Join(t.TempDir(), "missing.yaml"))
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "missing.yaml does not exist; give the path of a job spec file, or - for stdin")

	r = runJob(t, jobRun{env: map[string]string{orchestratorEnv: f.url()}, stdin: "  \n"}, "run", "-")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "agentctl run: stdin: job spec is empty")
}

func TestRunServerSideRejection(t *testing.T) {
	// A spec agentctl accepts but this orchestrator refuses (an older
	// agentctl, a server-side rule): its message and request id, exit 2.
	f := newFakeOrchestrator(t)
	f.srv.Config.Handler = rejectAll{}
	spec := specFile(t, "ok")
	r := runJob(t, jobRun{env: map[string]string{orchestratorEnv: f.url()}}, "run", spec)
	require.Equal(t, ExitUsage, r.code)
	require.Equal(t, "agentctl run: submit "+spec+": destination \"destination\" is not loaded by the publisher (request id req-42)\n", r.stderr)
	require.Empty(t, r.stdout)
}

type rejectAll struct{}

func (rejectAll) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	apiErr(w, 400, "invalid", `destination "destination" is not loaded by the publisher`)
}

func TestJobCommandsOrchestratorUnreachable(t *testing.T) {
	down := closedURL(t)
	spec := specFile(t, "ok")
	for _, args := range [][]string{
		{"run", spec, "--wait"},
		{"status", "j-1"},
		{"list"},
		{"cancel", "j-1"},
		{"manifest", "j-1"},
	} {
		t.Run(args[0], func(t *testing.T) {
			r := runJob(t, jobRun{env: map[string]string{orchestratorEnv: down}}, args...)
			require.Equal(t, ExitUnreachable, r.code, r.stderr)
			require.Empty(t, r.stdout)
			require.Contains(t, r.stderr, "cannot reach the orchestrator at "+down)
			require.Contains(t, r.stderr, "start the stack with `make run`")
			require.Equal(t, 1, strings.Count(r.stderr, "\n"), "one error line: %q", r.stderr)
		})
	}
}

func TestJobCommandLineProblems(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want []string
	}{
		{[]string{"run"}, nil, []string{"SPEC is required"}},
		{[]string{"run", "a.yaml", "b.yaml", "--timeout", "1m", "--poll", "10ms"}, nil, []string{
			"give one SPEC; found 2 arguments: a.yaml b.yaml", "--timeout applies only with --wait", "--poll 10ms: use 100ms to 1m"}},
		{[]string{"run", "a.yaml", "--wait", "--timeout", "soon"}, nil, []string{`--timeout: invalid value "soon": not a duration such as 500ms, 30s or 10m`}},
		{[]string{"status"}, nil, []string{"ID is required"}},
		{[]string{"status", "../etc"}, nil, []string{`"../etc" is not a job id`}},
		{[]string{"cancel", "a", "b"}, nil, []string{"give one job ID; found 2 arguments"}},
		{[]string{"list", "--limit", "0", "extra"}, nil, []string{`--limit: invalid value "0": must be at least 1`, `unexpected argument "extra"`}},
		{[]string{"list", "--orchestrator", "127.0.0.1:17100"}, nil, []string{`--orchestrator "127.0.0.1:17100" is not an http(s) URL`}},
		{[]string{"list"}, map[string]string{orchestratorEnv: "ftp://x"}, []string{`SA_ORCHESTRATOR_URL "ftp://x" is not an http(s) URL`}},
		{[]string{"list", "--orchestrator", "http://admin:pw@host:1"}, nil, []string{"--orchestrator must not carry credentials"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runJob(t, jobRun{env: tt.env}, tt.args...)
			require.Equal(t, ExitUsage, r.code, r.stderr)
			require.Empty(t, r.stdout)
			for _, w := range tt.want {
				require.Contains(t, r.stderr, w)
			}
			require.NotContains(t, r.stderr, "pw@")
		})
	}
}

func TestStatusListManifest(t *testing.T) {
	f := newFakeOrchestrator(t)
	dataDir, manifest := localOutput(t)
	env := map[string]string{orchestratorEnv: f.url(), "DATA_DIR": dataDir}
	for _, name := range []string{"ok", "fail"} {
		r := runJob(t, jobRun{env: env}, "run", specFile(t, name), "--wait", "--poll", "100ms")
		require.NotEqual(t, ExitUnreachable, r.code, r.stderr)
	}
	r := runJob(t, jobRun{env: env}, "run", specFile(t, "long"))
	require.Equal(t, ExitOK, r.code, r.stderr)

	// status: the summary of a succeeded job.
	r = runJob(t, jobRun{env: env}, "status", "j-1")
	require.Equal(t, ExitOK, r.code, r.stderr)
	out := r.stdout
	for _, re := range []string{
		`(?m)^job +j-1 \(ok\)$`,
		`(?m)^state +succeeded$`,
		`(?m)^source +sqlite, connection default/sqlite/demo$`,
		`(?m)^submitted +2026-03-01 \d\d:01:00 \S+ \(.+ ago\)$`,
		`(?m)^duration +3.2s$`,
		`(?m)^assets +1234$`,
		`(?m)^changes +incremental: 7 created, 1 updated, 1 deleted, 440 unchanged, 3 deletion\(s\) withheld by a fail-safe \(see the warnings\)$`,
		`(?m)^manifest +binding destination, key jobs/j-1/manifest.json \(3 files, 1.3 KiB\)$`,
		`(?m)^output +` + regexp.QuoteMeta(manifest) + `$`,
		`(?m)^PARTITION +DATABASE +SCHEMAS +TABLES +STATE +ATTEMPTS +ASSETS +ERROR$`,
		`(?m)^p002 +main +- +4 +succeeded +1 +0 +-$`,
		`(?m)^KIND +ROWS$`,
		`(?m)^column +1020$`,
	} {
		require.Regexp(t, re, out)
	}
	require.Less(t, strings.Index(out, "\ndatabase "), strings.Index(out, "\ncolumn "), "kinds in model order")

	// A failed job shows its errors; a running one its time so far.
	r = runJob(t, jobRun{env: env}, "status", "j-2")
	require.Equal(t, ExitOK, r.code, "status itself succeeded")
	require.Contains(t, r.stdout, "errors:\n  - partition p000 failed after 3 attempts: connection reset by peer\n")
	require.Regexp(t, `(?m)^p000 +main +- +4 +failed +3 +0 +connection reset by peer$`, r.stdout)
	r = runJob(t, jobRun{env: env}, "status", "j-3")
	require.Regexp(t, `(?m)^state +pending$`, r.stdout)
	require.Regexp(t, `(?m)^duration +.+ so far$`, r.stdout)

	r = runJob(t, jobRun{env: env}, "status", "j-1", "--json")
	require.Equal(t, ExitOK, r.code)
	var st job.Status
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st))
	require.Equal(t, job.Succeeded, st.State)

	r = runJob(t, jobRun{env: env}, "status", "nope")
	require.Equal(t, ExitFailure, r.code)
	require.Equal(t, "agentctl status: job nope not found (job \"nope\" not found (request id req-42)); `agentctl list` shows the jobs the orchestrator knows\n", r.stderr)

	// list: newest first, and --limit.
	r = runJob(t, jobRun{env: env}, "list")
	require.Equal(t, ExitOK, r.code, r.stderr)
	rows := lines(r.stdout)
	require.Regexp(t, `^ID +STATE +CONNECTION +ASSETS +SUBMITTED +DURATION$`, rows[0])
	require.Len(t, rows, 4)
	require.Regexp(t, `^j-3 +running \(extract\) +default/sqlite/demo +1200 +2026-03-01 \S+ \S+ +.+ so far$`, rows[1])
	require.Regexp(t, `^j-2 +failed +default/sqlite/demo +0 +.+ +2s$`, rows[2])
	require.Regexp(t, `^j-1 +succeeded +default/sqlite/demo +1234 +.+ +3.2s$`, rows[3])
	r = runJob(t, jobRun{env: env}, "list", "--limit", "1", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	var l job.List
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &l))
	require.Len(t, l.Jobs, 1)
	require.Equal(t, "j-3", l.Jobs[0].ID)

	// manifest: indented JSON on stdout or into a file.
	r = runJob(t, jobRun{env: env}, "manifest", "j-1")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.True(t, strings.HasPrefix(r.stdout, "{\n  \"version\": 1,\n"), r.stdout)
	var m model.Manifest
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &m))
	require.Equal(t, fakeManifest("j-1").Files, m.Files)
	target := filepath.Join(t.TempDir(), "m.json")
	require.NoError(t, os.WriteFile(target, []byte("old"), 0o600))
	r = runJob(t, jobRun{env: env}, "manifest", "j-1", "--out", target)
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Empty(t, r.stdout)
	data, err := os.ReadFile(target)
	require.NoError(t, err)
	require.JSONEq(t, r2s(t, runJob(t, jobRun{env: env}, "manifest", "j-1")), string(data))
	entries, err := os.ReadDir(filepath.Dir(target))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file left")

	r = runJob(t, jobRun{env: env}, "manifest", "j-2")
	require.Equal(t, ExitFailure, r.code)
	require.Contains(t, r.stderr, "no manifest for job j-2 (job j-2 is failed: no manifest (request id req-42)); a job has one once it succeeded")
	r = runJob(t, jobRun{env: env}, "manifest", "j-1", "--out", t.TempDir())
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "is a directory; give a file name")
}

func r2s(t *testing.T, r result) string {
	t.Helper()
	require.Equal(t, ExitOK, r.code, r.stderr)
	return r.stdout
}

func TestListEmpty(t *testing.T) {
	f := newFakeOrchestrator(t)
	r := runJob(t, jobRun{env: map[string]string{orchestratorEnv: f.url()}}, "list")
	require.Equal(t, ExitOK, r.code)
	require.Empty(t, r.stdout)
	require.Equal(t, "no jobs yet; submit one with: agentctl run SPEC\n", r.stderr)
	r = runJob(t, jobRun{env: map[string]string{orchestratorEnv: f.url()}}, "list", "--json")
	require.JSONEq(t, `{"jobs":[]}`, r.stdout)
}

func TestRunWaitOnATerminal(t *testing.T) {
	f := newFakeOrchestrator(t)
	r := runJob(t, jobRun{env: map[string]string{orchestratorEnv: f.url()}, width: 60}, "run", specFile(t, "ok"), "--wait", "--poll", "100ms")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Equal(t, "job j-1 succeeded: 1234 assets in 3.2s", lastLine(r.stdout))

	// Six frames of three lines: the first drawn, each next one moves the
	// cursor up three lines and clears every line it rewrites.
	frames := strings.Split(strings.TrimPrefix(r.stderr, "job j-1 submitted; watching it (Ctrl-C stops watching, not the job)\n"), "\x1b[3F")
	require.Len(t, frames, 6, "%q", r.stderr)
	for _, fr := range frames {
		ls := lines(fr)
		require.Len(t, ls, 3, "%q", fr)
		for _, l := range ls {
			require.True(t, strings.HasPrefix(l, "\x1b[2K"), "%q", l)
			require.LessOrEqual(t, len([]rune(strings.TrimPrefix(l, "\x1b[2K"))), 60, "cut to the terminal's width: %q", l)
		}
	}
	require.Contains(t, frames[0], "partitions: planning")
	require.Contains(t, frames[3], "partitions 1/3 done: p000 succeeded, p001 extracting (atte…")
	require.Contains(t, frames[5], "job j-1  succeeded  elapsed 3.2s")
	require.Contains(t, frames[5], "assets 1234")

	// More than eight partitions: only the count.
	r = runJob(t, jobRun{env: map[string]string{orchestratorEnv: f.url()}, width: 200}, "run", specFile(t, "many"), "--wait", "--poll", "100ms")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stderr, "\x1b[2Kpartitions 12/12 done\n")
	require.Contains(t, r.stderr, "\x1b[2Kassets 1234  ")
	require.Contains(t, r.stderr, "database=1 schema=3 table=210 column=1020")
}

func TestWatchRidesOutAnOrchestratorRestart(t *testing.T) {
	f := newFakeOrchestrator(t)
	r := runJob(t, jobRun{env: map[string]string{orchestratorEnv: f.url()}}, "run", specFile(t, "long"))
	require.Equal(t, ExitOK, r.code, r.stderr)

	var stderr bytes.Buffer
	env := &Env{Stderr: &stderr, WatchLineEvery: time.Hour, Now: time.Now, Terminal: func(io.Writer) (int, bool) { return 0, false }}
	c := newOrchestrator(f.url())
	type outcome struct {
		st  job.Status
		err error
	}
	done := make(chan outcome)
	go func() {
		st, err := watchJob(context.Background(), env, c, "j-1", 50*time.Millisecond, 0, time.Minute)
		done <- outcome{st, err}
	}()
	waitPolls(t, f, "j-1", 2)
	f.drop.Store(true)
	require.Eventually(t, func() bool { return f.dropped.Load() >= 3 }, 10*time.Second, 10*time.Millisecond)
	f.drop.Store(false)
	// Back again, the job gets cancelled; the watch sees it end.
	require.Equal(t, ExitOK, runJob(t, jobRun{env: map[string]string{orchestratorEnv: f.url()}}, "cancel", "j-1").code)
	o := <-done
	require.NoError(t, o.err)
	require.Equal(t, job.Cancelled, o.st.State)
	require.Equal(t, 1, strings.Count(stderr.String(), "job j-1: the orchestrator is not answering; retrying for 1m0s\n"), stderr.String())

	// Gone for longer than the grace: the watch gives up as unreachable.
	r = runJob(t, jobRun{env: map[string]string{orchestratorEnv: f.url()}}, "run", specFile(t, "long"))
	require.Equal(t, ExitOK, r.code, r.stderr)
	f.drop.Store(true)
	start := time.Now()
	_, err := watchJob(context.Background(), env, c, "j-2", 50*time.Millisecond, 0, 300*time.Millisecond)
	var unreachable *unreachableError
	require.ErrorAs(t, err, &unreachable)
	require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
	require.Equal(t, ExitUnreachable, exitCode(err))
}

func TestRateMeterUsesTheLastTenSeconds(t *testing.T) {
	at := func(s float64) time.Time { return base.Add(time.Duration(s * float64(time.Second))) }
	tests := []struct {
		name    string
		samples [][2]float64 // seconds, assets
		want    float64
	}{
		{"first sample", [][2]float64{{0, 0}}, 0},
		{"too soon to tell", [][2]float64{{0, 0}, {0.2, 100}}, 0},
		{"steady", [][2]float64{{0, 0}, {5, 500}, {10, 1000}, {15, 1500}}, 100},
		{"a burst long ago, then a stall", [][2]float64{{0, 0}, {1, 1000}, {20, 1000}, {21, 1000}}, 0},
		{"a stall, then work", [][2]float64{{0, 0}, {20, 0}, {25, 500}}, 20}, // 500 assets over the 25 s since the last sample ≥10 s old
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &rateMeter{}
			var got float64
			for _, s := range tt.samples {
				got = m.add(at(s[0]), int64(s[1]))
			}
			require.InDelta(t, tt.want, got, 0.001)
		})
	}
}
