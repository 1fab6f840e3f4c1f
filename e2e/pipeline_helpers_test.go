package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// agent drives jobs on a running stack through the orchestrator's API, the
// way agentctl does, and reads their output from the destination folder.
type agent struct {
	t *testing.T
	s *stack.Stack
}

// on returns the agent reporting to t (a subtest's): a failure must stop
// the subtest, not its parent.
func (a agent) on(t *testing.T) agent { a.t = t; return a }

func (a agent) url(path string) string { return a.s.AppURL("orchestrator") + path }

// bearer is the job API's authorization header.
func (a agent) bearer() map[string]string {
	return map[string]string{"Authorization": "Bearer " + a.s.APIToken()}
}

// submit posts a spec and returns the job id.
func (a agent) submit(spec string) string {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url("/v1/jobs"), strings.NewReader(spec))
	require.NoError(a.t, err)
	req.Header.Set("Content-Type", "application/yaml")
	req.Header.Set("Authorization", "Bearer "+a.s.APIToken())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(a.t, http.StatusAccepted, resp.StatusCode, "submit: %s", body)
	var sub job.Submitted
	require.NoError(a.t, json.Unmarshal(body, &sub))
	require.NotEmpty(a.t, sub.ID)
	return sub.ID
}

func (a agent) status(id string) (job.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.url("/v1/jobs/"+id), nil)
	if err != nil {
		return job.Status{}, err
	}
	req.Header.Set("Authorization", "Bearer "+a.s.APIToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return job.Status{}, err // the orchestrator may be restarting
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return job.Status{}, fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	var st job.Status
	return st, json.Unmarshal(body, &st)
}

// waitUntil polls the job until cond holds; it fails the test if the job
// ends first (unless cond accepts that) or the timeout passes.
func (a agent) waitUntil(id, what string, timeout time.Duration, cond func(job.Status) bool) job.Status {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	var last job.Status
	var lastErr error
	for time.Now().Before(deadline) {
		st, err := a.status(id)
		if err == nil {
			last = st
			if cond(st) {
				return st
			}
			if st.State.Terminal() {
				a.t.Fatalf("job %s ended %s while waiting for %s: %v", id, st.State, what, st.Errors)
			}
		}
		lastErr = err
		time.Sleep(200 * time.Millisecond)
	}
	a.t.Fatalf("job %s: %s not reached within %s (last state %s, phase %s, partitions %+v, err %v)", id, what, timeout, last.State, last.Phase, last.Partitions, lastErr)
	return last
}

// wait returns the job's final status.
func (a agent) wait(id string, timeout time.Duration) job.Status {
	a.t.Helper()
	return a.waitUntil(id, "the end", timeout, func(st job.Status) bool { return st.State.Terminal() })
}

func (a agent) cancel(id string) {
	a.t.Helper()
	ans := doWith(a.t, http.MethodPost, a.url("/v1/jobs/"+id+":cancel"), a.bearer())
	require.Equal(a.t, http.StatusAccepted, ans.Status, "cancel: %s", ans.Body)
}

// jobDir is where the local destination binding keeps a job's output.
func (a agent) jobDir(id string) string {
	return filepath.Join(a.s.DataDir(), "destination", job.DefaultPrefix, id)
}

// assets checks the job's output against its manifest and returns its
// sorted asset set ("kind qualified_name" lines).
func (a agent) assets(id string) []string {
	a.t.Helper()
	dir := a.jobDir(id)
	require.NoError(a.t, model.VerifyDir(dir))
	m, err := model.ReadManifest(dir)
	require.NoError(a.t, err)
	require.Equal(a.t, id, m.JobID)
	return readAssets(a.t, dir, m.Files)
}

func readAssets(t *testing.T, dir string, files []model.FileInfo) []string {
	t.Helper()
	var out []string
	for _, f := range files {
		err := model.ReadFile(filepath.Join(dir, f.Name), func(kind model.Kind, rec arrow.Record) error {
			qn := rec.Column(0).(*array.String)
			for i := 0; i < qn.Len(); i++ {
				out = append(out, string(kind)+" "+qn.Value(i))
			}
			return nil
		})
		require.NoError(t, err, f.Name)
	}
	sort.Strings(out)
	return out
}

// referenceAssets extracts the same source with `agentctl extract` (the
// connector without the pipeline) and returns its asset set.
func referenceAssets(t *testing.T, args ...string) []string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "ref")
	cmd := exec.Command(filepath.Join(root(t), "bin", "agentctl"), append([]string{"extract", "--out", out}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Run(), "agentctl extract: %s", stderr.String())
	m, err := model.ReadManifest(out)
	require.NoError(t, err)
	return readAssets(t, out, m.Files)
}

// kill SIGKILLs one process of the stack and waits until the stack's
// supervisor has started it again and every app is healthy.
func (a agent) kill(name string) { a.killAll(name) }

// killAll SIGKILLs the named processes at once, then waits until each was
// started again and is healthy.
func (a agent) killAll(names ...string) {
	a.t.Helper()
	pids := map[string]int{}
	for _, name := range names {
		before := a.s.Pids()[name]
		require.NotZero(a.t, before, "no process %s", name)
		require.NoError(a.t, syscall.Kill(before, syscall.SIGKILL))
		a.t.Logf("killed %s (pid %d)", name, before)
		pids[name] = before
	}
	for _, name := range names {
		a.waitBack(name, pids[name])
	}
}

// waitBack waits until process name runs again under a pid other than
// before, healthy.
func (a agent) waitBack(name string, before int) {
	a.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if pid := a.s.Pids()[name]; pid != before && pid != 0 && alive(pid) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := a.s.Health(ctx, strings.TrimSuffix(name, "-dapr"))
			cancel()
			if err == nil || !isAppOrSidecar(name) {
				a.t.Logf("%s is back (pid %d)", name, pid)
				return
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	a.t.Fatalf("%s was not restarted within 60s", name)
}

func isAppOrSidecar(name string) bool {
	return strings.HasSuffix(name, "-dapr") || stack.AppIDOf(name) != name || contains(stack.Apps, name)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// stagingFiles lists what is left in the staging folder of a job.
func stagingFiles(t *testing.T, s *stack.Stack, id string) []string {
	t.Helper()
	var out []string
	_ = filepath.Walk(filepath.Join(s.DataDir(), "staging", "jobs", id), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func countKind(assets []string, kind model.Kind) int {
	n := 0
	for _, a := range assets {
		if strings.HasPrefix(a, string(kind)+" ") {
			n++
		}
	}
	return n
}
