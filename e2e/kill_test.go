package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
	"github.com/secure-agent/secure-agent/libs/job"
)

// Production timings: the broker's default ack wait (60 s) and the default
// partition deadline (15 min). A kill must be recovered by redelivery —
// the sidecar's inbound retries or the broker's — which the tests prove by
// asserting every partition ran exactly once (no retry after a deadline),
// nothing was dead-lettered, and the job ended within the ack wait plus
// the time to restart a process.
const (
	prodAckWait   = 60 * time.Second
	restartBudget = 30 * time.Second
)

// prodStack is a local-profile stack with the launcher's defaults: one
// extractor, the default ack wait.
func prodStack(t *testing.T, portBase int) agent {
	t.Helper()
	return prodStackWith(t, portBase, func(*stack.Options) {})
}

// prodStackWith is prodStack with options changed by set (replicas, say).
func prodStackWith(t *testing.T, portBase int, set func(*stack.Options)) agent {
	t.Helper()
	dataDir := stackDataDir(t)
	writeSecrets(t, dataDir)
	o := stack.Options{
		Root: root(t), DataDir: dataDir, Profile: "local", PortBase: portBase, StartTimeout: 3 * time.Minute,
		Progress: &testLog{t: t}, Restarts: 100, // these tests kill on purpose, many times
	}
	set(&o)
	s, err := stack.Start(context.Background(), o)
	require.NoError(t, err)
	supervise(t, s, dataDir)
	return agent{t: t, s: s}
}

// deadLetters lists what health keeps (agentctl deadletters list).
func (a agent) deadLetters() []json.RawMessage {
	a.t.Helper()
	ans := doWith(a.t, http.MethodGet, a.s.AppURL("health")+"/v1/deadletters", a.bearer())
	require.Equal(a.t, http.StatusOK, ans.Status, "%s", ans.Body)
	var l struct {
		DeadLetters []json.RawMessage `json:"dead_letters"`
	}
	ans.JSON(a.t, &l)
	return l.DeadLetters
}

// stateValue reads key from the orchestrator's state (the SQLite state
// store of the local profile); false when it is absent.
func stateValue(t *testing.T, s *stack.Stack, key string) ([]byte, bool) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.DataDir(), "state", "state.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	defer db.Close()
	var value string
	var binary bool
	err = db.QueryRow("SELECT value, is_binary FROM state WHERE key = ?", "orchestrator||"+key).Scan(&value, &binary)
	if err == sql.ErrNoRows {
		return nil, false
	}
	require.NoError(t, err)
	raw := []byte(value)
	if binary { // state.sqlite keeps values it did not store as JSON in base64
		raw, err = base64.StdEncoding.DecodeString(value)
		require.NoError(t, err)
	}
	return raw, true
}

// slotHolders reads a connection's slot holders from the orchestrator's state.
func (a agent) slotHolders(connection string) []string {
	a.t.Helper()
	raw, ok := stateValue(a.t, a.s, "slots/"+connection)
	if !ok {
		return nil
	}
	var v struct {
		Holders []string `json:"holders"`
	}
	require.NoError(a.t, json.Unmarshal(raw, &v), string(raw))
	return v.Holders
}

// list answers the orchestrator's job list.
func (a agent) list() []job.Status {
	a.t.Helper()
	ans := doWith(a.t, http.MethodGet, a.url("/v1/jobs?limit=1000"), a.bearer())
	require.Equal(a.t, http.StatusOK, ans.Status, "%s", ans.Body)
	var l job.List
	ans.JSON(a.t, &l)
	return l.Jobs
}

// requireRedelivered asserts the job succeeded by redelivery alone.
func requireRedelivered(t *testing.T, st job.Status) {
	t.Helper()
	require.Equal(t, job.Succeeded, st.State, "%v", st.Errors)
	for _, p := range st.Partitions {
		require.Equal(t, 1, p.Attempts, "partition %s was retried: the kill was recovered by a deadline, not by redelivery", p.ID)
	}
}

// TestKillsWithProductionTimings kills the extractor and the orchestrator
// in the middle of a 27-partition job, and the orchestrator during
// submission, with the default ack wait and partition deadline.
func TestKillsWithProductionTimings(t *testing.T) {
	t.Parallel()
	a := prodStack(t, 30000)
	dsn := pgCatalog(t, "sa_e2e_kills", 26, 40) // 26 schemas of 40 tables + public: 27 partitions
	const conn = "default/postgres/kills"
	// Default partition deadline (15 min) and retries.
	spec := func(name string) string {
		return strings.Replace(pgSpec(name, conn, dsn, "partitioning:", "  tables_per_partition: 40", "  max_parallel: 2"),
			"databases: ["+pgDB+"]", "databases: [sa_e2e_kills]", 1)
	}

	// The undisturbed run: the reference for assets and duration.
	ref := a.submit(spec("undisturbed"))
	refSt := a.wait(ref, 5*time.Minute)
	requireRedelivered(t, refSt)
	require.Len(t, refSt.Partitions, 27)
	refAssets := a.assets(ref)
	undisturbed := refSt.FinishedAt.Sub(*refSt.StartedAt)
	t.Logf("undisturbed 27-partition job: %s", undisturbed)

	killMidJob := func(t *testing.T, victim string) {
		a := a.on(t)
		id := a.submit(spec("kill-" + victim))
		// Mid-extraction, with partitions in flight: a few done, most not.
		a.waitUntil(id, "a few partitions done", 3*time.Minute, func(st job.Status) bool {
			return partitionsSucceeded(st) >= 3
		})
		killed := time.Now()
		before, _ := a.status(id)
		require.Less(t, partitionsSucceeded(before), 20, "the job is still in the middle of its extraction")
		a.kill(victim)
		st := a.wait(id, prodAckWait+restartBudget+undisturbed+time.Minute)
		requireRedelivered(t, st)
		require.Equal(t, refAssets, a.assets(id), "the asset set differs from an undisturbed run")
		require.Empty(t, a.deadLetters(), "nothing was dead-lettered")
		took := time.Since(killed)
		t.Logf("RECOVERY %s killed with %d of 27 partitions done: job ended %s after the kill (whole job %s, undisturbed %s; bound %s)",
			victim, partitionsSucceeded(before), took.Round(100*time.Millisecond), st.FinishedAt.Sub(*st.StartedAt).Round(100*time.Millisecond),
			undisturbed.Round(100*time.Millisecond), prodAckWait+restartBudget+undisturbed)
		require.Less(t, took, prodAckWait+restartBudget+undisturbed, "recovered within the ack wait and a restart")
		require.Empty(t, a.slotHolders(conn), "every slot is released")
	}
	t.Run("SIGKILL of the extractor mid-job is redelivered", func(t *testing.T) { killMidJob(t, "extractor") })
	for i := 1; i <= 3; i++ {
		t.Run(fmt.Sprintf("SIGKILL of the orchestrator mid-job, round %d", i), func(t *testing.T) { killMidJob(t, "orchestrator") })
	}

	t.Run("SIGKILL of the orchestrator during submission", func(t *testing.T) {
		a := a.on(t)
		for round := range 5 {
			name := fmt.Sprintf("submit-kill-%d", round)
			// The proxy tells when the submission reached the orchestrator.
			proxy := newTCPProxy(t, strings.TrimPrefix(a.s.AppURL("orchestrator"), "http://"))
			run := startAgentctl(t, a, "http://"+proxy.Addr(), "run", writeSpec(t, spec(name)))
			proxy.waitArrival(t)
			// Somewhere in the submission: parsing, the key, the record,
			// the index, the workflow start.
			time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond)
			killed := time.Now()
			a.kill("orchestrator")
			out := run.wait(t, 2*time.Minute)
			require.Equal(t, 0, out.code, "agentctl run retried the lost submission: %s", out.stderr)
			id := strings.TrimSpace(out.stdout)
			var named []string
			for _, st := range a.list() {
				if st.Name == name {
					named = append(named, st.ID)
				}
			}
			require.Equal(t, []string{id}, named, "exactly one job was created and it is listed")
			requireRedelivered(t, a.wait(id, prodAckWait+restartBudget+undisturbed+time.Minute))
			t.Logf("RECOVERY orchestrator killed during submission (round %d): job ended %s after the kill (undisturbed %s)",
				round, time.Since(killed).Round(100*time.Millisecond), undisturbed.Round(100*time.Millisecond))
		}
		require.Empty(t, a.deadLetters())
		require.Empty(t, a.slotHolders(conn))
	})

	t.Run("a cancelled job leaves nothing in staging", func(t *testing.T) {
		a := a.on(t)
		id := a.submit(spec("cancel-staging"))
		a.waitUntil(id, "a few partitions done", 3*time.Minute, func(st job.Status) bool { return partitionsSucceeded(st) >= 3 })
		a.cancel(id)
		require.Equal(t, job.Cancelled, a.wait(id, 2*time.Minute).State)
		// Extractions in flight at the cancel finish their read and stage
		// their files afterwards; those must go too.
		deadline := time.Now().Add(2 * time.Minute)
		for len(stagingFiles(t, a.s, id)) > 0 && time.Now().Before(deadline) {
			time.Sleep(500 * time.Millisecond)
		}
		require.Empty(t, stagingFiles(t, a.s, id), "staging of a cancelled job is cleaned")
		require.Empty(t, a.slotHolders(conn))
	})
}

// TestRandomOrchestratorKills kills the orchestrator at random moments of
// 20 short jobs, submitted by agentctl as a user would: every job ends,
// every job created is listed once, every slot is released, nothing is
// dead-lettered.
func TestRandomOrchestratorKills(t *testing.T) {
	t.Parallel()
	a := prodStack(t, 31000)
	db := demoDB(t)
	const conn = "default/sqlite/kills"
	rounds := envInt(t, "SA_E2E_KILL_ROUNDS", 20) // more to hunt a rare failure
	t.Run("submission refusals", func(t *testing.T) { submissionRefusals(t, a.on(t), db) })
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 20))
	specFor := func(name string) string {
		return writeSpec(t, fmt.Sprintf("version: 1\nname: %s\nconnection: %s\nsource:\n  kind: sqlite\n  dsn: '%s'\n", name, conn, db))
	}
	// An undisturbed run, submission to exit, sets the window the kills
	// fall in: every kill lands while agentctl is submitting or waiting.
	began := time.Now()
	first := startAgentctl(t, a, a.s.AppURL("orchestrator"), "run", specFor("kill-window-undisturbed"), "--wait", "--poll", "200ms")
	require.Equal(t, 0, first.wait(t, 2*time.Minute).code)
	window := time.Since(began)
	t.Logf("undisturbed run through agentctl: %s", window.Round(10*time.Millisecond))
	var ids []string
	midJob := 0
	for round := range rounds {
		name := fmt.Sprintf("random-kill-%02d", round)
		run := startAgentctl(t, a, a.s.AppURL("orchestrator"), "run", specFor(name), "--wait", "--poll", "200ms")
		delay := time.Duration(rng.Int64N(int64(window)))
		time.Sleep(delay)
		select {
		case <-run.done:
		default:
			midJob++
		}
		a.kill("orchestrator")
		killed := time.Now()
		out := run.wait(t, prodAckWait+2*restartBudget)
		t.Logf("RECOVERY random round %d: killed %s after agentctl started; agentctl exit %d %s after the kill", round, delay.Round(time.Millisecond), out.code, time.Since(killed).Round(10*time.Millisecond))
		require.Equal(t, 0, out.code, "round %d: %s\n%s", round, out.stdout, out.stderr)
		ids = append(ids, strings.SplitN(out.stdout, "\n", 2)[0])
	}
	t.Logf("random kills: %d of %d landed before agentctl saw its job end", midJob, rounds)
	jobs := map[string]job.Status{}
	for _, st := range a.list() {
		if strings.HasPrefix(st.Name, "random-kill-") {
			_, dup := jobs[st.Name]
			require.False(t, dup, "job %s was created twice", st.Name)
			jobs[st.Name] = st
		}
	}
	require.Len(t, jobs, rounds, "every created job is listed")
	for round, id := range ids {
		st := jobs[fmt.Sprintf("random-kill-%02d", round)]
		require.Equal(t, id, st.ID)
		requireRedelivered(t, st)
	}
	require.Empty(t, a.slotHolders(conn), "every slot is released")
	require.Empty(t, a.deadLetters(), "nothing was dead-lettered")
}

func writeSpec(t *testing.T, spec string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "spec.yaml")
	require.NoError(t, os.WriteFile(p, []byte(spec), 0o600))
	return p
}

// agentctlRun is a running bin/agentctl.
type agentctlRun struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
	code           int
}

type agentctlResult struct {
	code           int
	stdout, stderr string
}

// startAgentctl runs bin/agentctl against the stack's orchestrator at url,
// with the stack's data dir (for its token).
func startAgentctl(t *testing.T, a agent, url string, args ...string) *agentctlRun {
	t.Helper()
	r := &agentctlRun{done: make(chan struct{})}
	r.cmd = exec.Command(filepath.Join(root(t), "bin", "agentctl"), args...)
	r.cmd.Env = append(os.Environ(), "SA_ORCHESTRATOR_URL="+url, "SA_DATA_DIR="+a.s.DataDir())
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	require.NoError(t, r.cmd.Start())
	go func() {
		_ = r.cmd.Wait()
		r.code = r.cmd.ProcessState.ExitCode()
		close(r.done)
	}()
	t.Cleanup(func() { _ = r.cmd.Process.Kill(); <-r.done })
	return r
}

func (r *agentctlRun) wait(t *testing.T, timeout time.Duration) agentctlResult {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(timeout):
		_ = r.cmd.Process.Kill()
		<-r.done
		t.Fatalf("agentctl %v did not end within %s: %s %s", r.cmd.Args[1:], timeout, r.stdout.String(), r.stderr.String())
	}
	return agentctlResult{code: r.code, stdout: r.stdout.String(), stderr: r.stderr.String()}
}

// submissionRefusals runs the job API's refusals on a live stack: nothing
// a refused spec holds is stored, and a big spec stays cheap.
func submissionRefusals(t *testing.T, a agent, db string) {
	post := func(spec string, hdr map[string]string) answer {
		t.Helper()
		h := a.bearer()
		for k, v := range hdr {
			h[k] = v
		}
		return postBody(t, a.url("/v1/jobs"), spec, h)
	}
	base := fmt.Sprintf("version: 1\nconnection: default/sqlite/refusals\nsource:\n  kind: sqlite\n  dsn: '%s'\n", db)

	t.Run("destinations are checked against the publisher's bindings", func(t *testing.T) {
		ans := post(base+"destinations: [{binding: staging}]\n", nil)
		require.Equal(t, http.StatusBadRequest, ans.Status, "%s", ans.Body)
		require.Contains(t, string(ans.Body), "staging binding")
		ans = post(base+"destinations: [{binding: nosuchbinding}]\n", nil)
		require.Equal(t, http.StatusBadRequest, ans.Status, "%s", ans.Body)
		require.Contains(t, string(ans.Body), `\"nosuchbinding\" is not a destination of the publisher (it can write to: destination)`)
	})
	t.Run("control characters are refused", func(t *testing.T) {
		ans := post(base+"name: \"pwn\\e]0;owned\\a\"\n", nil)
		require.Equal(t, http.StatusBadRequest, ans.Status, "%s", ans.Body)
		require.Contains(t, string(ans.Body), "control character U+001B")
	})
	t.Run("a spec over the size limit is refused before parsing", func(t *testing.T) {
		ans := post(base+"# "+strings.Repeat("x", job.MaxSpecBytes)+"\n", nil)
		require.Equal(t, http.StatusBadRequest, ans.Status)
		require.Contains(t, string(ans.Body), fmt.Sprintf("the limit is %d", job.MaxSpecBytes))
	})
	t.Run("the manifest of an unknown job is 404", func(t *testing.T) {
		ans := doWith(t, http.MethodGet, a.url("/v1/jobs/j-20990101-000000-000-000000/manifest"), a.bearer())
		require.Equal(t, http.StatusNotFound, ans.Status, "%s", ans.Body)
		require.Contains(t, string(ans.Body), "is unknown")
	})
	t.Run("a repeated submission with the same key is one job", func(t *testing.T) {
		spec := base + "name: idempotent\n"
		key := map[string]string{"Idempotency-Key": fmt.Sprintf("e2e-key-%d", time.Now().UnixNano())}
		first, second := post(spec, key), post(spec, key)
		require.Equal(t, http.StatusAccepted, first.Status, "%s", first.Body)
		require.Equal(t, http.StatusAccepted, second.Status, "%s", second.Body)
		var a1, a2 job.Submitted
		first.JSON(t, &a1)
		second.JSON(t, &a2)
		require.Equal(t, a1.ID, a2.ID)
		require.Equal(t, job.Succeeded, a.on(t).wait(a1.ID, 2*time.Minute).State)
	})
	t.Run("four specs at the size limit at once keep the orchestrator small", func(t *testing.T) {
		var b strings.Builder
		b.WriteString(base + "filters:\n  exclude_tables:\n")
		for i := 0; b.Len() < job.MaxSpecBytes-300; i++ {
			fmt.Fprintf(&b, "    - 'nothing_%04d_%s'\n", i, strings.Repeat("z", 150)) // under MaxPatterns
		}
		spec := b.String()
		pid := a.s.Pids()["orchestrator"]
		before := rssKiB(t, pid)
		var wg sync.WaitGroup
		ids := make([]string, 4)
		answers := make([]answer, 4)
		for i := range ids {
			wg.Go(func() {
				answers[i] = post(strings.Replace(spec, "version: 1\n", fmt.Sprintf("version: 1\nname: big-%d\n", i), 1), nil)
				var sub job.Submitted
				if answers[i].Status == http.StatusAccepted && json.Unmarshal(answers[i].Body, &sub) == nil {
					ids[i] = sub.ID
				}
			})
		}
		wg.Wait()
		for i, id := range ids {
			require.NotEmpty(t, id, "each big spec was accepted: %d %s", answers[i].Status, answers[i].Body)
			require.Equal(t, job.Succeeded, a.on(t).wait(id, 3*time.Minute).State)
		}
		after := rssKiB(t, pid)
		t.Logf("MEMORY orchestrator RSS %d MiB before, %d MiB after four %d-byte specs ran (peak %d MiB)",
			before/1024, after/1024, len(spec), peakKiB(t, pid)/1024)
		require.Less(t, peakKiB(t, pid)-before, int64(200<<10), "the orchestrator's memory stays bounded")
	})
}

func postBody(t *testing.T, url, body string, hdr map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/yaml")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{Status: resp.StatusCode, Body: b}
}

// rssKiB and peakKiB read a process's resident and peak resident memory.
func rssKiB(t *testing.T, pid int) int64  { return procStatusKiB(t, pid, "VmRSS:") }
func peakKiB(t *testing.T, pid int) int64 { return procStatusKiB(t, pid, "VmHWM:") }

func procStatusKiB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, field); ok {
			var n int64
			_, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &n)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

func partitionsSucceeded(st job.Status) int {
	n := 0
	for _, p := range st.Partitions {
		if p.State == job.Succeeded {
			n++
		}
	}
	return n
}
