package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
	"github.com/secure-agent/secure-agent/e2e/controlplane"
	"github.com/secure-agent/secure-agent/libs/config"
	cpclient "github.com/secure-agent/secure-agent/libs/controlplane"
	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/libs/secret"
)

const (
	cpClientID = "agent-e2e"
	cpAgentID  = "e2e-agent"
)

// fakeVault is HashiCorp Vault's KV v2 read API, the part Dapr's
// secretstores.hashicorp.vault calls: a cloud vault cannot run here, and
// the local file store reads its file only at start, so a rotation in "the
// vault" needs one that is asked on every read. Like Vault it refuses a
// wrong token (403) and answers 404 for an unknown key.
type fakeVault struct {
	mu      sync.Mutex
	secrets map[string]string
	reads   map[string]int
	srv     *http.Server
	addr    string
}

const fakeVaultToken = "e2e-vault-token"

func newFakeVault(t *testing.T, secrets map[string]string) *fakeVault {
	t.Helper()
	v := &fakeVault{secrets: secrets, reads: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/secret/data/{key}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Vault-Token") != fakeVaultToken {
			http.Error(w, `{"errors":["permission denied"]}`, http.StatusForbidden)
			return
		}
		key := r.PathValue("key")
		v.mu.Lock()
		val, ok := v.secrets[key]
		v.reads[key]++
		v.mu.Unlock()
		if !ok {
			http.Error(w, `{"errors":[]}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"data": map[string]string{key: val}}})
	})
	ln := listenLoopback(t)
	v.addr = "http://" + ln.Addr().String()
	v.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = v.srv.Serve(ln) }()
	t.Cleanup(func() { _ = v.srv.Close() })
	return v
}

func (v *fakeVault) set(key, val string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.secrets[key] = val
}

func (v *fakeVault) readsOf(key string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.reads[key]
}

// componentDir writes the vault secret store component for the apps that
// talk to the control plane.
func (v *fakeVault) componentDir(t *testing.T) string {
	dir := t.TempDir()
	yaml := strings.Join([]string{
		"apiVersion: dapr.io/v1alpha1",
		"kind: Component",
		"metadata:",
		"  name: vault",
		"spec:",
		"  type: secretstores.hashicorp.vault",
		"  version: v1",
		"  metadata:",
		"    - name: vaultAddr",
		"      value: " + v.addr,
		"    - name: vaultToken",
		"      value: " + fakeVaultToken,
		"    - name: enginePath",
		"      value: secret",
		"    - name: vaultKVUsePrefix",
		`      value: "false"`,
		"scopes: [orchestrator, publisher, health]",
		"",
	}, "\n")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "vault.yaml"), []byte(yaml), 0o600))
	return dir
}

// linkedStack is a stack linked to an in-process reference control plane
// whose client credentials live in the fake vault.
type linkedStack struct {
	s       *stack.Stack
	cp      *controlplane.Server
	vault   *fakeVault
	db      string
	secrets []string // every client secret the vault held
}

func startLinkedStack(t *testing.T, portBase int, env ...string) *linkedStack {
	t.Helper()
	return startLinkedStackWith(t, portBase, 6*time.Second, func(*stack.Options) {}, env...)
}

// startLinkedStackWith is startLinkedStack with the control plane's lease
// duration and stack options changed by set (replicas, say).
func startLinkedStackWith(t *testing.T, portBase int, leaseDuration time.Duration, set func(*stack.Options), env ...string) *linkedStack {
	t.Helper()
	secret := "e2e-secret-" + randomSuffix(t)
	vault := newFakeVault(t, map[string]string{"controlplane-client-id": cpClientID, "controlplane-client-secret": secret})
	cp, err := controlplane.Start(controlplane.Options{ClientID: cpClientID, ClientSecret: secret, LeaseDuration: leaseDuration})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cp.Close() })

	dataDir := stackDataDir(t)
	writeSecrets(t, dataDir)
	caFile := filepath.Join(t.TempDir(), "cp-ca.pem")
	require.NoError(t, os.WriteFile(caFile, cp.CAPEM(), 0o600))
	o := stack.Options{
		Root: root(t), DataDir: dataDir, Profile: "local", PortBase: portBase, StartTimeout: 3 * time.Minute,
		AckWait: 10 * time.Second, Progress: &testLog{t: t},
		ExtraResources: []string{vault.componentDir(t)},
		AppEnv: append([]string{
			"CONTROLPLANE_URL=" + cp.APIURL(), "CONTROLPLANE_TOKEN_URL=" + cp.TokenURL(), "CONTROLPLANE_CA_FILE=" + caFile,
			"CONTROLPLANE_SECRET_STORE=vault", "AGENT_ID=" + cpAgentID, "SHIP_JOB_LOGS=true",
			"HEARTBEAT_INTERVAL=1s", "CONTROLPLANE_POLL_WAIT=5s", "CONTROLPLANE_MAX_RETRIES=8",
			// One leased job at a time: a job whose lease is lost cannot be
			// leased again (and adopted) before the loss is noticed.
			"CONTROLPLANE_MAX_JOBS=1",
		}, env...),
	}
	set(&o)
	s, err := stack.Start(context.Background(), o)
	require.NoError(t, err)
	supervise(t, s, dataDir)
	return &linkedStack{s: s, cp: cp, vault: vault, db: demoDB(t), secrets: []string{secret}}
}

func (l *linkedStack) enqueue(t *testing.T) string {
	t.Helper()
	// Mode full: the runs are compared file by file with each other.
	id, err := l.cp.Enqueue(map[string]any{
		"version": 1, "name": "cp-demo", "connection": "default/sqlite/cp-demo", "mode": "full",
		"source": map[string]any{"kind": "sqlite", "dsn": l.db},
	})
	require.NoError(t, err)
	return id
}

// waitState waits for the control plane to see the job in one of states.
func (l *linkedStack) waitState(t *testing.T, id string, timeout time.Duration, states ...string) controlplane.JobInfo {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		j, ok := l.cp.Job(id)
		require.True(t, ok, "job %s unknown to the control plane", id)
		for _, s := range states {
			if j.State == s || reportedState(l.cp, id, s) {
				return j
			}
		}
		if time.Now().After(deadline) {
			require.Failf(t, "job did not reach state", "job %s: want %v within %s; it is %s with statuses %+v", id, states, timeout, j.State, l.cp.Statuses(id))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func reportedState(cp *controlplane.Server, id, state string) bool {
	for _, s := range cp.Statuses(id) {
		if s.Report.State == state {
			return true
		}
	}
	return false
}

// ingested checks the job's files against its manifest (every file listed
// arrived once, with matching sha256, and nothing else) and answers them
// as "name rows" lines: what two runs of the same source must agree on
// (the bytes differ, since every row carries its job's id).
func (l *linkedStack) ingested(t *testing.T, id string) []string {
	t.Helper()
	raw := l.cp.Manifest(id)
	require.NotEmpty(t, raw, "job %s has no manifest on the control plane", id)
	var m model.Manifest
	require.NoError(t, json.Unmarshal(raw, &m))
	stored := map[string]controlplane.StoredFile{}
	for _, f := range l.cp.Files(id) {
		_, dup := stored[f.Name]
		require.False(t, dup, "file %s was stored twice", f.Name)
		sum := sha256.Sum256(f.Data)
		require.Equal(t, f.SHA256, hex.EncodeToString(sum[:]), "stored bytes of %s do not match their sha256", f.Name)
		stored[f.Name] = f
	}
	var out []string
	for _, f := range m.Files {
		s, ok := stored[f.Name]
		require.True(t, ok, "manifest lists %s, which never arrived", f.Name)
		require.Equal(t, f.SHA256, s.SHA256, "sha256 of %s", f.Name)
		require.Equal(t, f.Rows, s.Rows, "rows of %s", f.Name)
		out = append(out, fmt.Sprintf("%s %d", f.Name, f.Rows))
	}
	require.Len(t, stored, len(m.Files), "files stored that the manifest does not list")
	sort.Strings(out)
	return out
}

// kill SIGKILLs one process of the stack and waits until it was restarted.
func (l *linkedStack) kill(t *testing.T, name string) {
	t.Helper()
	agent{t: t, s: l.s}.kill(name)
}

func (l *linkedStack) run(t *testing.T) (string, []string) {
	t.Helper()
	id := l.enqueue(t)
	j := l.waitState(t, id, 2*time.Minute, "succeeded", "failed", "cancelled")
	require.Equal(t, "succeeded", j.State, "statuses: %+v", l.cp.Statuses(id))
	return id, l.ingested(t, id)
}

func TestControlPlaneLink(t *testing.T) {
	t.Parallel()
	l := startLinkedStack(t, 27000)

	var baseline []string
	t.Run("a job queued on the control plane is leased, run, reported and its files ingested", func(t *testing.T) {
		id, files := l.run(t)
		baseline = files
		require.NotEmpty(t, files)
		var states []string
		for _, s := range l.cp.Statuses(id) {
			states = append(states, s.Report.State)
		}
		require.Equal(t, []string{"accepted", "running", "succeeded"}, states)
		final := l.cp.Statuses(id)[2].Report
		sum := sha256.Sum256(l.cp.Manifest(id))
		require.Equal(t, hex.EncodeToString(sum[:]), final.ManifestSHA256, "the result names the manifest it ingested")
		require.NotNil(t, final.Assets)
		require.EqualValues(t, 519, *final.Assets)
		require.Eventually(t, func() bool { return len(l.cp.Logs(id)) > 0 }, 30*time.Second, 200*time.Millisecond,
			"the job's log lines reach the control plane")
		require.Eventually(t, func() bool {
			for _, hb := range l.cp.Heartbeats() {
				if hb.AgentID == cpAgentID && hb.Version != "" && len(hb.Apps) == 4 && hb.LastJob != nil && hb.LastJob.JobID == id {
					return true
				}
			}
			return false
		}, 30*time.Second, 200*time.Millisecond, "heartbeats name the agent, its apps and the last job")
		require.Greater(t, l.vault.readsOf("controlplane-client-secret"), 0, "the client secret is read from the vault")
	})
	require.NotEmpty(t, baseline, "the undisturbed run failed; the fault runs have nothing to compare with")

	faults := []struct {
		name         string
		fault        controlplane.Fault
		expireTokens bool // so the next calls fetch tokens
	}{
		{"429 with Retry-After on ingest", controlplane.Fault{Kind: controlplane.FaultRateLimit, Count: 3, PathPrefix: controlplane.APIPrefix + "/jobs/", RetryAfter: time.Second}, false},
		{"503 on every call", controlplane.Fault{Kind: controlplane.FaultServerError, Count: 4}, false},
		{"500 on status reports", controlplane.Fault{Kind: controlplane.FaultServerError, Status: 500, Count: 2, PathPrefix: controlplane.APIPrefix + "/leases/"}, false},
		{"slow answers", controlplane.Fault{Kind: controlplane.FaultSlow, Count: 6, Delay: 1500 * time.Millisecond}, false},
		{"dropped connections", controlplane.Fault{Kind: controlplane.FaultDrop, Count: 4}, false},
		{"dropped token requests", controlplane.Fault{Kind: controlplane.FaultDrop, Count: 2, PathPrefix: controlplane.TokenPath}, true},
	}
	for _, f := range faults {
		t.Run("under "+f.name+" the job completes with nothing lost or duplicated", func(t *testing.T) {
			before := l.cp.Counters().Faults[f.fault.Kind]
			require.NoError(t, l.cp.Inject(f.fault))
			if f.expireTokens {
				l.cp.ExpireTokens()
			}
			_, files := l.run(t)
			require.Equal(t, baseline, files)
			require.Greater(t, l.cp.Counters().Faults[f.fault.Kind], before, "the fault was injected")
		})
	}

	t.Run("tokens expiring mid-job are fetched again", func(t *testing.T) {
		issued := l.cp.TokensIssued()
		id := l.enqueue(t)
		l.waitState(t, id, time.Minute, "accepted")
		l.cp.ExpireTokens()
		l.waitState(t, id, 2*time.Minute, "succeeded")
		require.Equal(t, baseline, l.ingested(t, id))
		require.Greater(t, l.cp.TokensIssued(), issued)
	})

	t.Run("a client secret rotated in the vault mid-job needs no restart", func(t *testing.T) {
		id := l.enqueue(t)
		l.waitState(t, id, time.Minute, "accepted")
		reads := l.vault.readsOf("controlplane-client-secret")
		rotated := "e2e-rotated-" + randomSuffix(t)
		l.secrets = append(l.secrets, rotated)
		l.vault.set("controlplane-client-secret", rotated)
		l.cp.RotateSecret(rotated, true) // old tokens stop working at once
		l.waitState(t, id, 2*time.Minute, "succeeded")
		require.Equal(t, baseline, l.ingested(t, id))
		require.Greater(t, l.vault.readsOf("controlplane-client-secret"), reads, "the secret was read again after the 401")
	})

	t.Run("a lost lease does not run the job twice", func(t *testing.T) {
		id := l.enqueue(t)
		l.waitState(t, id, time.Minute, "accepted")
		var leaseID string
		for _, le := range l.cp.Leases() {
			if le.JobID == id {
				leaseID = le.LeaseID
			}
		}
		require.NoError(t, l.cp.ExpireLease(leaseID))
		j := l.waitState(t, id, 2*time.Minute, "succeeded")
		require.GreaterOrEqual(t, j.Leases, 2, "the job was leased again after the loss")
		require.Equal(t, baseline, l.ingested(t, id))
	})

	t.Run("a lease lost while the job runs: cancelled here, leased again, rerun, nothing duplicated", func(t *testing.T) {
		const db = "sa_e2e_cplink"
		dsn := pgCatalog(t, db, 12, 30) // 360 tables in 72 partitions, one at a time: a job of ~10 s
		spec := map[string]any{
			// Mode full: the rerun's files are compared with the first run's.
			"version": 1, "name": "cp-pg", "connection": "default/postgres/cplink", "mode": "full",
			"source":       map[string]any{"kind": "postgres", "dsn": dsn, "databases": []string{db}},
			"partitioning": map[string]any{"tables_per_partition": 5, "max_parallel": 1},
		}
		runPG := func() string {
			id, err := l.cp.Enqueue(spec)
			require.NoError(t, err)
			return id
		}
		undisturbed := runPG()
		require.Equal(t, "succeeded", l.waitState(t, undisturbed, 3*time.Minute, "succeeded", "failed", "cancelled").State)
		want := l.ingested(t, undisturbed)

		id := runPG()
		l.waitState(t, id, time.Minute, "running")
		for _, le := range l.cp.Leases() {
			if le.JobID == id && le.State == controlplane.LeaseActive {
				require.NoError(t, l.cp.ExpireLease(le.LeaseID))
			}
		}
		j := l.waitState(t, id, 3*time.Minute, "succeeded", "failed", "cancelled")
		require.Equal(t, "succeeded", j.State, "statuses: %+v", l.cp.Statuses(id))
		require.Equal(t, 2, j.Leases)
		require.Equal(t, want, l.ingested(t, id), "the rerun's files are complete, and the lost run's are not kept")

		a := agent{t: t, s: l.s}
		first, err := a.status(id)
		require.NoError(t, err)
		require.Equal(t, "cancelled", string(first.State), "the run of the lost lease was stopped here")
		rerun, err := a.status(id + ".r2")
		require.NoError(t, err)
		require.Equal(t, "succeeded", string(rerun.State))
		t.Logf("files of the cancelled run discarded by the manifest: %d", l.cp.DiscardedFiles(id))
	})

	t.Run("the client secrets appear in no file of the stack nor in any uploaded log line", func(t *testing.T) {
		for _, secret := range l.secrets {
			requireNowhere(t, l.s.DataDir(), secret)
			for _, j := range l.cp.Jobs() {
				for _, line := range l.cp.Logs(j.ID) {
					b, err := json.Marshal(line)
					require.NoError(t, err)
					require.NotContains(t, string(b), secret)
				}
			}
		}
	})

	t.Run("no process of the agent listens on a non-loopback address", func(t *testing.T) {
		socks := listeningSockets(t, l.s.Pids())
		require.NotEmpty(t, socks)
		for _, s := range socks {
			t.Logf("listening: %s", s)
			require.True(t, s.loopback(), "%s listens on a non-loopback address", s)
		}
	})
}

// TestControlPlaneRefusals checks the agent's client as the services build
// it from their settings: a TLS 1.1-only control plane and a host outside
// the allowlist are both refused.
func TestControlPlaneRefusals(t *testing.T) {
	t.Parallel()
	const secret = "refusal-test-client-secret"
	secrets := staticSecrets{"controlplane-client-id": cpClientID, "controlplane-client-secret": secret}
	settings := func(t *testing.T, cp *controlplane.Server, env map[string]string) cpclient.Settings {
		ca := filepath.Join(t.TempDir(), "ca.pem")
		require.NoError(t, os.WriteFile(ca, cp.CAPEM(), 0o600))
		var s cpclient.Settings
		l := config.New("test")
		check := cpclient.Register(l, &s)
		vals := map[string]string{"CONTROLPLANE_URL": cp.APIURL(), "CONTROLPLANE_TOKEN_URL": cp.TokenURL(), "CONTROLPLANE_CA_FILE": ca,
			"CONTROLPLANE_MAX_RETRIES": "0"}
		for k, v := range env {
			vals[k] = v
		}
		require.NoError(t, l.Load(nil, func(k string) (string, bool) { v, ok := vals[k]; return v, ok }))
		check(l)
		require.NoError(t, l.Err())
		return s
	}

	t.Run("a TLS 1.1-only control plane is refused", func(t *testing.T) {
		cp, err := controlplane.Start(controlplane.Options{ClientID: cpClientID, ClientSecret: secret, TLS11Only: true})
		require.NoError(t, err)
		defer cp.Close()
		c, err := cpclient.NewFromSettings(settings(t, cp, nil), secrets, zap.NewNop(), nil)
		require.NoError(t, err)
		_, err = c.PollWork(context.Background(), cpAgentID, time.Second)
		require.Error(t, err)
		require.Contains(t, strings.ToLower(err.Error()), "protocol version")
		require.Zero(t, cp.TokensIssued())
	})

	t.Run("a host outside the allowlist is refused before connecting", func(t *testing.T) {
		cp, err := controlplane.Start(controlplane.Options{ClientID: cpClientID, ClientSecret: secret})
		require.NoError(t, err)
		defer cp.Close()
		c, err := cpclient.NewFromSettings(settings(t, cp, map[string]string{"CONTROLPLANE_ALLOWED_HOSTS": "tenant.example.com"}), secrets, zap.NewNop(), nil)
		require.NoError(t, err)
		_, err = c.PollWork(context.Background(), cpAgentID, time.Second)
		require.Error(t, err)
		require.Contains(t, err.Error(), "allow")
		require.Empty(t, cp.Counters().Requests, "no request reached the control plane")
		require.Zero(t, cp.TokensIssued())
	})
}

type staticSecrets map[string]string

func (s staticSecrets) Secret(_ context.Context, key string) (secret.Value, error) {
	return secret.New(s[key]), nil
}
