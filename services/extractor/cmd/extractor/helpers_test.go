package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/bootstrap"
	"github.com/secure-agent/secure-agent/libs/daprtest"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/libs/pubsub"
	"github.com/secure-agent/secure-agent/services/extractor/internal/app"
)

// stack is the extractor app, run in-process by bootstrap.Run with its real
// wiring, beside a real daprd: in-memory pub/sub and state, a localstorage
// staging binding in a temporary directory and a local-file secret store.
// The test's own subscriptions (on the same app) collect what the
// extractor publishes.
type stack struct {
	appURL     string
	sidecar    *daprtest.Sidecar
	stagingDir string
	events     *collector
}

type stackOptions struct {
	env     map[string]string // extra settings
	secrets map[string]string
}

func component(name, typ string, metadata ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: %s\nspec:\n  type: %s\n  version: v1\n", name, typ)
	if len(metadata) > 0 {
		b.WriteString("  metadata:\n")
		for i := 0; i+1 < len(metadata); i += 2 {
			fmt.Fprintf(&b, "    - name: %s\n      value: %q\n", metadata[i], metadata[i+1])
		}
	}
	return b.String()
}

func startStack(t *testing.T, opts stackOptions) *stack {
	t.Helper()
	s := &stack{stagingDir: t.TempDir(), events: newCollector()}
	secretsFile := filepath.Join(t.TempDir(), "secrets.json")
	raw, err := json.Marshal(opts.secrets)
	require.NoError(t, err)
	if opts.secrets == nil {
		raw = []byte("{}")
	}
	require.NoError(t, os.WriteFile(secretsFile, raw, 0o600))

	appPort := freePort(t)
	s.appURL = "http://127.0.0.1:" + strconv.Itoa(appPort)
	// daprd is healthy on its outbound side before the app listens; it then
	// waits for the app and reads its subscriptions.
	s.sidecar = daprtest.Start(t, daprtest.Options{AppID: "extractor", AppPort: appPort, Resources: map[string]string{
		"pubsub.yaml":     component("pubsub", "pubsub.in-memory"),
		"statestore.yaml": component("statestore", "state.in-memory"),
		"staging.yaml":    component("staging", "bindings.localstorage", "rootPath", s.stagingDir),
		"secrets.yaml":    daprtest.LocalFileSecretStore("secrets", secretsFile),
	}})

	env := map[string]string{
		"APP_PORT":       strconv.Itoa(appPort),
		"DAPR_HTTP_PORT": strconv.Itoa(s.sidecar.HTTPPort),
		"DAPR_GRPC_PORT": strconv.Itoa(s.sidecar.GRPCPort),
		"LOG_FORMAT":     "console",
		"LOG_LEVEL":      "debug",
		// One app alone: no audit writer (tests that want one set AUDIT).
		"AUDIT":            "off",
		"SHUTDOWN_TIMEOUT": "3s",
	}
	for k, v := range opts.env {
		env[k] = v
	}
	spec := service()
	wire := spec.Wire
	spec.Wire = func(ctx context.Context, d bootstrap.Deps) (func(context.Context) error, error) {
		flush, err := wire(ctx, d)
		for _, topic := range []string{job.TopicBatchReady, job.TopicPartitionDone, job.TopicDeadLetter} {
			d.Router.Subscribe(topic, "", s.events.handler(topic))
		}
		return flush, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- bootstrap.Run(ctx, spec, nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			// fasthttp counts a connection daprd dialed but never used as
			// active until its read timeout, so the graceful shutdown may
			// run out of SHUTDOWN_TIMEOUT (a libs/httpserver matter); any
			// other error is a failure.
			if err != nil && !strings.Contains(err.Error(), "http server shutdown within") {
				t.Errorf("the extractor stopped with: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the extractor did not stop within 30s")
		}
	})
	s.waitSubscribed(t, done)
	return s
}

// freePort picks a free port for the app below Linux's ephemeral range, so
// that none of the ports daprd asks the kernel for (daprtest binds :0) can
// take it between now and the app's start.
func freePort(t *testing.T) int {
	t.Helper()
	for range 100 {
		n, err := rand.Int(rand.Reader, big.NewInt(12000))
		require.NoError(t, err)
		port := 20000 + int(n.Int64())
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			require.NoError(t, l.Close())
			return port
		}
	}
	t.Fatal("no free port for the app in 20000-31999")
	return 0
}

// waitSubscribed waits until daprd has read the app's subscriptions.
func (s *stack) waitSubscribed(t *testing.T, done chan error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			done <- err // for the cleanup
			t.Fatalf("the extractor stopped during start-up: %v\n%s", err, s.sidecar.Log())
		default:
		}
		var md struct {
			Subscriptions []struct{ Topic string } `json:"subscriptions"`
		}
		if status, body := httpDo(t, http.MethodGet, s.sidecar.HTTPURL()+"/v1.0/metadata", nil); status == http.StatusOK &&
			json.Unmarshal(body, &md) == nil && slices.ContainsFunc(md.Subscriptions, func(x struct{ Topic string }) bool {
			return x.Topic == job.TopicExtractRequests
		}) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("daprd did not subscribe the extractor within 60s:\n%s", s.sidecar.Log())
}

func httpDo(t *testing.T, method, url string, body []byte) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// publish sends raw data to a topic through the sidecar.
func (s *stack) publish(t *testing.T, topic string, data []byte, contentType string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.sidecar.HTTPURL()+"/v1.0/publish/pubsub/"+topic, bytes.NewReader(data))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusNoContent, resp.StatusCode, "publish: %s", b)
}

func (s *stack) request(t *testing.T, req job.ExtractRequest) {
	t.Helper()
	b, err := json.Marshal(req)
	require.NoError(t, err)
	s.publish(t, job.TopicExtractRequests, b, "application/json")
}

// metric reads one sample of the app's /metrics, 0 when absent.
func (s *stack) metric(t *testing.T, name, labels string) float64 {
	t.Helper()
	status, body := httpDo(t, http.MethodGet, s.appURL+"/metrics", nil)
	require.Equal(t, http.StatusOK, status)
	prefix := name + "{" + labels + "} "
	if labels == "" {
		prefix = name + " "
	}
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, prefix) {
			v, err := strconv.ParseFloat(strings.TrimPrefix(line, prefix), 64)
			require.NoError(t, err)
			return v
		}
	}
	return 0
}

// requireMetric waits until a sample reaches want: the extractor counts a
// request after publishing its outcome, so the count may trail the event.
func (s *stack) requireMetric(t *testing.T, name, labels string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	got := s.metric(t, name, labels)
	for got != want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		got = s.metric(t, name, labels)
	}
	require.Equal(t, want, got, "%s{%s}", name, labels)
}

// stagedFiles lists the staging directory's files, relative to it.
func (s *stack) stagedFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(s.stagingDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(s.stagingDir, p)
		out = append(out, filepath.ToSlash(rel))
		return err
	})
	require.NoError(t, err)
	slices.Sort(out)
	return out
}

// requireStagedMatch checks every announced file against the staged
// object: sha256, size and rows (read back as this agent's Arrow files),
// and returns the rows per kind.
func (s *stack) requireStagedMatch(t *testing.T, files []job.BatchReady) map[model.Kind]int64 {
	t.Helper()
	rows := map[model.Kind]int64{}
	for _, f := range files {
		path := filepath.Join(s.stagingDir, filepath.FromSlash(f.Key))
		data, err := os.ReadFile(path)
		require.NoError(t, err, "staged file %s", f.Key)
		sum := sha256.Sum256(data)
		require.Equal(t, f.SHA256, hex.EncodeToString(sum[:]), f.Key)
		require.Equal(t, f.Bytes, int64(len(data)), f.Key)
		var n int64
		require.NoError(t, model.ReadFile(path, func(k model.Kind, rec arrow.Record) error {
			require.Equal(t, f.Kind, k)
			n += rec.NumRows()
			return nil
		}))
		require.Equal(t, f.Rows, n, f.Key)
		require.Equal(t, job.StagingKey(f.JobID, f.Partition, f.Run, f.Kind, f.Seq), f.Key)
		rows[f.Kind] += n
	}
	return rows
}

// collector keeps every event the test's subscriptions receive.
type collector struct {
	mu     sync.Mutex
	events map[string][]json.RawMessage
}

func newCollector() *collector { return &collector{events: map[string][]json.RawMessage{}} }

func (c *collector) handler(topic string) pubsub.Handler {
	return func(_ context.Context, ev pubsub.Event) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.events[topic] = append(c.events[topic], append(json.RawMessage(nil), ev.Data...))
		return nil
	}
}

func (c *collector) raw(topic string) []json.RawMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events[topic])
}

// partitionDones returns the PartitionDone events of a job and partition.
func (c *collector) partitionDones(t *testing.T, jobID, partition string) []job.PartitionDone {
	t.Helper()
	var out []job.PartitionDone
	for _, raw := range c.raw(job.TopicPartitionDone) {
		var d job.PartitionDone
		require.NoError(t, json.Unmarshal(raw, &d))
		if d.JobID == jobID && d.Partition == partition {
			out = append(out, d)
		}
	}
	return out
}

// batchReadies returns the BatchReady events of a job and partition.
func (c *collector) batchReadies(t *testing.T, jobID, partition string) []job.BatchReady {
	t.Helper()
	var out []job.BatchReady
	for _, raw := range c.raw(job.TopicBatchReady) {
		var b job.BatchReady
		require.NoError(t, json.Unmarshal(raw, &b))
		if b.JobID == jobID && b.Partition == partition {
			out = append(out, b)
		}
	}
	return out
}

// waitDone waits for the n-th PartitionDone of a partition.
func (s *stack) waitDone(t *testing.T, jobID, partition string, n int) job.PartitionDone {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if d := s.events.partitionDones(t, jobID, partition); len(d) >= n {
			return d[n-1]
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no PartitionDone #%d for %s/%s within 2 minutes\ndaprd:\n%s", n, jobID, partition, s.sidecar.Log())
	return job.PartitionDone{}
}

// sortedFiles orders files by kind and seq, for comparisons.
func sortedFiles(files []job.BatchReady) []job.BatchReady {
	out := slices.Clone(files)
	slices.SortFunc(out, func(a, b job.BatchReady) int {
		if c := strings.Compare(a.Run, b.Run); c != 0 {
			return c
		}
		if c := strings.Compare(string(a.Kind), string(b.Kind)); c != 0 {
			return c
		}
		return a.Seq - b.Seq
	})
	return out
}

func uniqueID(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 5)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return prefix + hex.EncodeToString(b)
}

// PostgreSQL test server: loopback, trust authentication.
const pgAdminDSN = "postgres://postgres@127.0.0.1:5432/postgres"

func pgExec(t *testing.T, dsn, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer func() { _ = conn.Close(ctx) }()
	_, err = conn.Exec(ctx, sql)
	require.NoError(t, err)
}

// pgDatabase creates a throwaway database, runs script in it and drops it
// at the end; it returns the database's name.
func pgDatabase(t *testing.T, script string) string {
	t.Helper()
	name := uniqueID(t, "saex_")
	pgExec(t, pgAdminDSN, "CREATE DATABASE "+name)
	t.Cleanup(func() { pgExec(t, pgAdminDSN, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	pgExec(t, "postgres://postgres@127.0.0.1:5432/"+name, script)
	return name
}

// record reads a partition's run record through the sidecar's state API.
func (s *stack) record(t *testing.T, jobID, partition string) app.Record {
	t.Helper()
	q, err := json.Marshal(map[string]any{"keys": []string{app.RecordKey(jobID, partition)}})
	require.NoError(t, err)
	status, body := httpDo(t, http.MethodPost, s.sidecar.HTTPURL()+"/v1.0/state/statestore/bulk", q)
	require.Equal(t, http.StatusOK, status, "%s", body)
	var items []struct {
		Data json.RawMessage `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &items))
	require.Len(t, items, 1)
	require.NotEmpty(t, items[0].Data, "no record for %s/%s", jobID, partition)
	var rec app.Record
	require.NoError(t, json.Unmarshal(items[0].Data, &rec))
	return rec
}
