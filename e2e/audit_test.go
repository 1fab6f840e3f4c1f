package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/job"
)

// TestAuditLogLive runs a MariaDB job with a canary password on a stack
// whose control plane is the witness, then checks the audit log it wrote:
// every secret read recorded once with the right HMAC, the canary nowhere,
// the chain of custody matching the manifest, the log verifying with the
// witness's cosignatures — and every way of tampering with it detected, by
// agentctl and by the witness. Last, the writer (health) is SIGKILLed
// while a job appends, and the log still verifies and goes on growing.
func TestAuditLogLive(t *testing.T) {
	// Not parallel: it runs before the parallel suites, so its stack does
	// not add to the load under which the orchestrator-kill tests run
	// (issue 16 tracks the workflow engine's race those tests expose).
	const portBase = 19000
	dataDir := stackDataDir(t)
	pw := writeSecrets(t, dataDir)
	tsaURL, tsaRoots := startTSA(t)
	s, err := stack.Start(context.Background(), stack.Options{
		Root: root(t), DataDir: dataDir, Profile: "local", PortBase: portBase, StartTimeout: 3 * time.Minute,
		ControlPlane: stack.ControlPlaneLocal, Progress: &testLog{t: t}, Restarts: 10,
		AppEnv: []string{"AUDIT_CHECKPOINT_INTERVAL=1s", "AUDIT_TSA_URL=" + tsaURL},
	})
	require.NoError(t, err)
	supervise(t, s, dataDir)
	a := agent{t: t, s: s}
	keys := auditKeys(t, dataDir)

	mariaCatalog(t, "sa_e2e_audit", 1, 4)
	mariaUser(t, "sa_audit", pw, `sa\_e2e\_audit\_%`)
	id := queueOnControlPlane(t, s, map[string]any{
		"version": 1, "name": "audited", "connection": "default/mysql/audited",
		"source": map[string]any{"kind": "mysql", "dsn": "sa_audit@tcp(127.0.0.1:3306)/",
			"password": map[string]string{"store": "secrets", "key": "demo-source-password"}},
	})
	st := a.wait(id, 3*time.Minute)
	require.Equal(t, job.Succeeded, st.State, "%v", st.Errors)
	witness := waitCosigned(t, s, keys)

	export := filepath.Join(t.TempDir(), "audit.jsonl")
	agentctl(t, s, dataDir, 0, export, "audit", "export")
	entries := readEntries(t, export)

	t.Run("the log verifies with the host's key and the witness's cosignatures", func(t *testing.T) {
		cp := filepath.Join(t.TempDir(), "witness-checkpoint")
		require.NoError(t, os.WriteFile(cp, []byte(witness.Checkpoint), 0o600))
		out := agentctl(t, s, dataDir, 0, "", "audit", "verify", "--log-key", keys.vkey, "--witness-key", witness.key,
			"--witness-checkpoint", cp, "--require-cosigned", "--tsa-roots", tsaRoots)
		require.Contains(t, out, "verified:")
		require.Contains(t, out, "time-stamped by a TSA", "each checkpoint carries the RFC 3161 token of the configured authority")
	})

	t.Run("every secret read is recorded once, with the HMAC of its value", func(t *testing.T) {
		reads := map[string]int{}
		for _, e := range entries {
			if e.Action != audit.ActionSecretRead || e.Details["purpose"] != "" {
				continue
			}
			reads[e.App]++
			if e.Target == "secrets/demo-source-password" {
				require.Equal(t, audit.HMAC([]byte(keys.hmac), pw), e.Details["hmac"], "entry %d", e.Seq)
				require.Equal(t, id, e.JobID, "entry %d names the job", e.Seq)
			}
		}
		require.Positive(t, reads["extractor"])
		// The metric also counts reads refused before the store answered
		// (the audit log not up yet at start): compare the answered ones.
		for _, app := range stack.Apps {
			counted := 0.0
			for _, result := range []string{"ok", "not_found", "denied"} {
				counted += scrapeSumWith(t, s.AppURL(app)+"/metrics", "secure_agent_secret_reads_total", `result="`+result+`"`)
			}
			require.Equal(t, int(counted), reads[app], "%s: secret reads counted vs recorded", app)
		}
	})

	t.Run("the canary password appears nowhere, the audit log included", func(t *testing.T) {
		requireNowhere(t, dataDir, pw)
	})

	t.Run("agentctl audit job shows the chain of custody matching the manifest", func(t *testing.T) {
		out := agentctl(t, s, dataDir, 0, "", "audit", "job", id, "--json")
		var chain []audit.Entry
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var e audit.Entry
			require.NoError(t, json.Unmarshal([]byte(l), &e), l)
			chain = append(chain, e)
		}
		var order []string
		seen := map[string]bool{}
		uploaded := map[string]bool{}
		var sealed string
		for _, e := range chain {
			if !seen[e.Action] {
				order = append(order, e.Action)
				seen[e.Action] = true
			}
			switch e.Action {
			case audit.ActionUploadAcknowledged:
				uploaded[e.Details["sha256"]] = true
				if e.Details["kind"] != "manifest" {
					require.True(t, strings.HasPrefix(e.Details["receipt"], "rcpt-"), "entry %d: the control plane's receipt: %v", e.Seq, e.Details)
				}
			case audit.ActionManifestSealed:
				sealed = e.Details["sha256"]
			case audit.ActionPartitionStatement:
				require.NotEqual(t, "0", e.Details["count"])
			}
		}
		require.Equal(t, []string{audit.ActionJobLeased, audit.ActionJobStarted, audit.ActionSecretRead,
			audit.ActionPartitionStatement, audit.ActionPartitionStaged, audit.ActionManifestSealed,
			audit.ActionUploadAcknowledged, audit.ActionJobFinished}, order)
		// The job's destination is the control plane: its manifest is the
		// one it received, and the sealed manifest is the one uploaded.
		var got struct {
			Manifest json.RawMessage `json:"manifest"`
		}
		resp, err := http.Get(s.ControlPlaneAdminURL() + "/jobs/" + id)
		require.NoError(t, err)
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
		resp.Body.Close()
		var manifestUpload string
		for _, e := range chain {
			if e.Action == audit.ActionUploadAcknowledged && e.Details["kind"] == "manifest" {
				manifestUpload = e.Details["sha256"]
			}
		}
		require.NotEmpty(t, sealed)
		require.Equal(t, sealed, manifestUpload, "the manifest uploaded is the one sealed")
		var m struct {
			Files []struct {
				SHA256 string `json:"sha256"`
			} `json:"files"`
		}
		require.NoError(t, json.Unmarshal(got.Manifest, &m))
		require.NotEmpty(t, m.Files)
		for _, f := range m.Files {
			require.True(t, uploaded[f.SHA256], "file %s of the manifest has no acknowledged upload", f.SHA256)
		}
	})

	t.Run("every tampering is detected by agentctl and by the witness", func(t *testing.T) {
		auditTamperMatrix(t, s, dataDir, export, keys, witness)
	})

	t.Run("SIGKILL of the writer while a job appends: no torn entry, no gap, the same tree goes on", func(t *testing.T) {
		before := len(entries)
		id2 := queueOnControlPlane(t, s, map[string]any{
			"version": 1, "name": "audited-again", "connection": "default/mysql/audited-2",
			"source": map[string]any{"kind": "mysql", "dsn": "sa_audit@tcp(127.0.0.1:3306)/",
				"password": map[string]string{"store": "secrets", "key": "demo-source-password"}},
		})
		// Kill health as soon as the job's first entries land.
		require.Eventually(t, func() bool {
			return auditSize(t, s) > before+2
		}, 2*time.Minute, 20*time.Millisecond)
		pid := s.Pids()["health"]
		require.NotZero(t, pid)
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
		t.Logf("killed health (pid %d)", pid)
		st := a.wait(id2, 5*time.Minute)
		t.Logf("the job around the kill ended %s (%v)", st.State, st.Errors)
		waitCosigned(t, s, keys)
		out := agentctl(t, s, dataDir, 0, "", "audit", "verify", "--log-key", keys.vkey, "--witness-key", witness.key, "--require-cosigned")
		require.Contains(t, out, "verified:")
		after := readEntries(t, exportTo(t, s, dataDir))
		require.Greater(t, len(after), before+2, "the log went on after the restart")
		var restarted bool
		for _, e := range after[before:] {
			if e.Action == audit.ActionProcessStarted && e.App == "health" {
				restarted = true
			}
		}
		require.True(t, restarted, "the restarted writer recorded its start in the same log")
	})
}

type auditKeySet struct {
	skey, vkey, hmac string
	signer           note.Signer
	origin           string
}

func auditKeys(t *testing.T, dataDir string) auditKeySet {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "secrets.json"))
	require.NoError(t, err)
	var m map[string]string
	require.NoError(t, json.Unmarshal(b, &m))
	k := auditKeySet{skey: m["audit-signing-key"], hmac: m["audit-hmac-key"]}
	require.NotEmpty(t, k.skey, "the launcher wrote the audit signing key")
	k.vkey, err = audit.VerifierKey(k.skey)
	require.NoError(t, err)
	k.signer, err = audit.NewSigner(k.skey)
	require.NoError(t, err)
	k.origin = k.signer.Name()
	return k
}

type witnessState struct {
	key        string
	Size       uint64
	Checkpoint string
}

// waitCosigned waits until the witness cosigned the whole log.
func waitCosigned(t *testing.T, s *stack.Stack, keys auditKeySet) witnessState {
	t.Helper()
	var w witnessState
	require.Eventually(t, func() bool {
		var v struct {
			WitnessKey string `json:"witness_key"`
			Logs       []struct {
				Origin     string `json:"origin"`
				Size       uint64 `json:"size"`
				Checkpoint string `json:"checkpoint"`
			} `json:"logs"`
		}
		resp, err := http.Get(s.ControlPlaneAdminURL() + "/witness")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		if json.NewDecoder(resp.Body).Decode(&v) != nil {
			return false
		}
		for _, l := range v.Logs {
			if l.Origin == keys.origin && l.Size > 0 && int(l.Size) == auditSize(t, s) {
				w = witnessState{key: v.WitnessKey, Size: l.Size, Checkpoint: l.Checkpoint}
				return true
			}
		}
		return false
	}, 2*time.Minute, 250*time.Millisecond, "the witness cosigned the whole audit log")
	return w
}

// auditSize is the log's size as health reports it, or -1 while health
// does not answer (it may be restarting).
func auditSize(t *testing.T, s *stack.Stack) int {
	req, err := http.NewRequest(http.MethodGet, s.AppURL("health")+"/v1/audit/status", nil)
	require.NoError(t, err)
	for k, v := range clientAuth(s) {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var st struct {
		Entries int `json:"entries"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&st) != nil {
		return -1
	}
	return st.Entries
}

// agentctl runs bin/agentctl against the stack and returns its stdout;
// out, if set, receives stdout instead.
func agentctl(t *testing.T, s *stack.Stack, dataDir string, wantExit int, out string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(root(t), "bin", "agentctl"), args...)
	cmd.Env = append(os.Environ(), "SA_DATA_DIR="+dataDir, "SA_HEALTH_URL="+s.AppURL("health"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if out != "" {
		f, err := os.Create(out)
		require.NoError(t, err)
		defer f.Close()
		cmd.Stdout = f
	}
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	require.Equal(t, wantExit, code, "agentctl %v: stdout %s\nstderr %s", args, stdout.String(), stderr.String())
	return stdout.String() + stderr.String()
}

func exportTo(t *testing.T, s *stack.Stack, dataDir string) string {
	p := filepath.Join(t.TempDir(), "audit.jsonl")
	agentctl(t, s, dataDir, 0, p, "audit", "export")
	return p
}

func readEntries(t *testing.T, path string) []audit.Entry {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []audit.Entry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	for sc.Scan() {
		var l audit.ExportLine
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l))
		if l.Record != nil && !l.Record.Pruned {
			e, err := audit.ParseEntry([]byte(l.Record.Entry))
			require.NoError(t, err)
			out = append(out, e)
		}
	}
	require.NoError(t, sc.Err())
	return out
}

// exportedLog is an export split into its lines, to tamper with.
type exportedLog struct {
	head    audit.Head
	records []audit.Record
	cps     []audit.CheckpointRecord
}

func loadExport(t *testing.T, path string) exportedLog {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var x exportedLog
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var l audit.ExportLine
		require.NoError(t, json.Unmarshal(line, &l))
		switch {
		case l.Head != nil:
			x.head = *l.Head
		case l.Record != nil:
			x.records = append(x.records, *l.Record)
		case l.Checkpoint != nil:
			x.cps = append(x.cps, *l.Checkpoint)
		}
	}
	return x
}

func (x exportedLog) write(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(audit.ExportLine{Head: &x.head}))
	for i := range x.records {
		require.NoError(t, enc.Encode(audit.ExportLine{Record: &x.records[i]}))
	}
	for i := range x.cps {
		require.NoError(t, enc.Encode(audit.ExportLine{Checkpoint: &x.cps[i]}))
	}
	p := filepath.Join(t.TempDir(), "tampered.jsonl")
	require.NoError(t, os.WriteFile(p, b.Bytes(), 0o600))
	return p
}

func (x exportedLog) clone() exportedLog {
	y := exportedLog{head: x.head, records: append([]audit.Record(nil), x.records...), cps: append([]audit.CheckpointRecord(nil), x.cps...)}
	y.head.Checkpoints = append([]uint64(nil), x.head.Checkpoints...)
	return y
}

// resign is what an attacker holding the host's signing key does after
// rewriting entries: recompute every tree hash from the bodies, sign a
// checkpoint of the rewritten tree, and ask the witness to cosign it with
// a consistency proof from what the witness last cosigned.
func (x *exportedLog) resign(t *testing.T, keys auditKeySet, witnessSize uint64, extra int) (note []byte, proofFrom uint64, proof []tlog.Hash) {
	t.Helper()
	// New entries past what the witness saw make it check consistency.
	for i := 0; i < extra; i++ {
		x.records = append(x.records, x.records[len(x.records)-1])
	}
	var hashes []tlog.Hash
	r := tlog.HashReaderFunc(func(ix []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(ix))
		for i, j := range ix {
			if j >= int64(len(hashes)) {
				return nil, fmt.Errorf("hash %d unknown", j)
			}
			out[i] = hashes[j]
		}
		return out, nil
	})
	for i := range x.records {
		x.records[i].Seq = uint64(i)
		leaf := x.records[i].Hashes[0]
		if x.records[i].Entry != "" {
			leaf = tlog.RecordHash([]byte(x.records[i].Entry))
		}
		hs, err := tlog.StoredHashesForRecordHash(int64(i), leaf, r)
		require.NoError(t, err)
		hashes = append(hashes, hs...)
		x.records[i].Hashes = hs
	}
	n := uint64(len(x.records))
	root, err := tlog.TreeHash(int64(n), r)
	require.NoError(t, err)
	text := fmt.Sprintf("%s\n%d\n%s\n", keys.origin, n, b64hash(root))
	signed, err := noteSign(text, keys.signer)
	require.NoError(t, err)
	x.head.Size = n
	x.cps = append(x.cps, audit.CheckpointRecord{Size: n, Note: string(signed)})
	if witnessSize > 0 && witnessSize < n {
		p, err := tlog.ProveTree(int64(n), int64(witnessSize), r)
		require.NoError(t, err)
		return signed, witnessSize, p
	}
	return signed, witnessSize, nil
}

func noteSign(text string, s note.Signer) ([]byte, error) {
	return note.Sign(&note.Note{Text: text}, s)
}

func b64hash(h tlog.Hash) string {
	b, _ := json.Marshal(h) // tlog.Hash marshals as base64
	return strings.Trim(string(b), `"`)
}

// witnessAdd submits a checkpoint to the control plane's witness.
func witnessAdd(t *testing.T, s *stack.Stack, keys auditKeySet, req audit.AddCheckpointRequest) (int, string) {
	t.Helper()
	hreq, err := http.NewRequest(http.MethodPost, s.ControlPlaneAdminURL()+"/witness/add-checkpoint", bytes.NewReader(req.Marshal()))
	require.NoError(t, err)
	hreq.Header.Set("X-Audit-Log-Key", keys.vkey)
	resp, err := http.DefaultClient.Do(hreq)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func auditTamperMatrix(t *testing.T, s *stack.Stack, dataDir, export string, keys auditKeySet, w witnessState) {
	base := loadExport(t, export)
	require.Greater(t, len(base.records), 10)
	// An entry the witness has cosigned, with an outcome to change.
	k := uint64(len(base.records) / 2)
	for !strings.Contains(base.records[k].Entry, `"outcome":"ok"`) {
		k++
	}
	early := base.clone()
	early.records = early.records[:k]
	early.head.Size = k
	var earlyCps []audit.CheckpointRecord
	for _, c := range early.cps {
		if c.Size <= k {
			earlyCps = append(earlyCps, c)
		}
	}
	early.cps = earlyCps

	cases := []struct {
		name   string
		tamper func(x *exportedLog) (noteForWitness []byte, proofFrom uint64, proof []tlog.Hash)
		kind   string // what agentctl names
		cpCode string // what the witness answers
	}{
		{"one byte of an entry changed", func(x *exportedLog) ([]byte, uint64, []tlog.Hash) {
			x.records[k].Entry = strings.Replace(x.records[k].Entry, `"outcome":"ok"`, `"outcome":"no"`, 1)
			y := x.clone()
			return y.resign(t, keys, w.Size, 1)
		}, "changed", "inconsistent"},
		{"an entry deleted", func(x *exportedLog) ([]byte, uint64, []tlog.Hash) {
			x.records = append(x.records[:k:k], x.records[k+1:]...)
			y := x.clone()
			return y.resign(t, keys, w.Size, 2)
		}, "missing", "inconsistent"},
		{"two entries swapped", func(x *exportedLog) ([]byte, uint64, []tlog.Hash) {
			// As in the store: each key keeps its place, the bodies move.
			a, b := x.records[k], x.records[k+1]
			x.records[k].Entry, x.records[k].Hashes = b.Entry, b.Hashes
			x.records[k+1].Entry, x.records[k+1].Hashes = a.Entry, a.Hashes
			y := x.clone()
			return y.resign(t, keys, w.Size, 1)
		}, "out-of-order", "inconsistent"},
		{"the tail truncated", func(x *exportedLog) ([]byte, uint64, []tlog.Hash) {
			x.records = x.records[:k]
			x.head.Size = k
			y := x.clone()
			y.cps = nil
			return y.resign(t, keys, w.Size, 0)
		}, "truncated", "rolled_back"},
		{"rolled back to an earlier copy", func(x *exportedLog) ([]byte, uint64, []tlog.Hash) {
			*x = early.clone()
			y := x.clone()
			return y.resign(t, keys, w.Size, 0)
		}, "rolled-back", "rolled_back"},
		{"forked: the same size, another root", func(x *exportedLog) ([]byte, uint64, []tlog.Hash) {
			x.records[1].Entry = strings.Replace(x.records[1].Entry, `"outcome":"ok"`, `"outcome":"no"`, 1)
			x.records = x.records[:w.Size]
			x.cps = nil
			x.resign(t, keys, 0, 0)
			return []byte(x.cps[len(x.cps)-1].Note), w.Size, nil
		}, "forked", "forked"},
		{"a checkpoint signature replaced", func(x *exportedLog) ([]byte, uint64, []tlog.Hash) {
			c := &x.cps[len(x.cps)-1]
			c.Note = flipSignature(t, c.Note, keys.origin)
			return []byte(c.Note), w.Size, nil
		}, "bad-signature", "bad_signature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := base.clone()
			cpNote, from, proof := c.tamper(&x)
			file := x.write(t)
			cp := filepath.Join(t.TempDir(), "witness-checkpoint")
			require.NoError(t, os.WriteFile(cp, []byte(w.Checkpoint), 0o600))
			out := agentctl(t, s, dataDir, 1, "", "audit", "verify", "--file", file, "--log-key", keys.vkey,
				"--witness-key", w.key, "--witness-checkpoint", cp)
			require.Contains(t, out, "("+c.kind+")", "agentctl names the tampering")
			status, body := witnessAdd(t, s, keys, audit.AddCheckpointRequest{OldSize: from, Proof: proof, Checkpoint: cpNote})
			require.GreaterOrEqual(t, status, 400, "the witness cosigned a tampered log: %s", body)
			require.Contains(t, body, `"code":"`+c.cpCode+`"`, "the witness names the tampering")
		})
	}
	t.Run("the untouched export verifies", func(t *testing.T) {
		agentctl(t, s, dataDir, 0, "", "audit", "verify", "--file", export, "--log-key", keys.vkey, "--witness-key", w.key)
	})
}

// flipSignature changes one bit of the signature line by signer name in a
// note, keeping its name and key hash: a replaced signature.
func flipSignature(t *testing.T, n, name string) string {
	t.Helper()
	lines := strings.Split(n, "\n")
	for i, l := range lines {
		rest, ok := strings.CutPrefix(l, "— "+name+" ")
		if !ok {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(rest)
		require.NoError(t, err)
		raw[len(raw)-1] ^= 1
		lines[i] = "— " + name + " " + base64.StdEncoding.EncodeToString(raw)
		return strings.Join(lines, "\n")
	}
	t.Fatalf("no signature by %s in %q", name, n)
	return ""
}

// scrapeSumWith adds up the samples of metric whose labels hold label.
func scrapeSumWith(t *testing.T, url, metric, label string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric+"{") || !strings.Contains(line, label) {
			continue
		}
		f := strings.Fields(line)
		var v float64
		_, err := fmt.Sscan(f[len(f)-1], &v)
		require.NoError(t, err, line)
		sum += v
	}
	require.NoError(t, sc.Err())
	return sum
}

// startTSA runs an RFC 3161 time-stamping authority on loopback (tokens
// made by digitorus/timestamp; a customer's TSA cannot run here) and
// returns its URL and a PEM file of its root.
func startTSA(t *testing.T) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e TSA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	ln := listenLoopback(t)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		req, err := timestamp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ts := timestamp.Timestamp{HashAlgorithm: req.HashAlgorithm, HashedMessage: req.HashedMessage, Time: time.Now(),
			Policy: asn1.ObjectIdentifier{1, 2, 3, 4}, Nonce: req.Nonce, AddTSACertificate: req.Certificates}
		resp, err := ts.CreateResponseWithOpts(cert, key, crypto.SHA256)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/timestamp-reply")
		_, _ = w.Write(resp)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	roots := filepath.Join(t.TempDir(), "tsa-root.pem")
	require.NoError(t, os.WriteFile(roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return "http://" + ln.Addr().String(), roots
}
