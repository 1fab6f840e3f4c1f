package service_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
	dapr "github.com/dapr/go-sdk/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/secure-agent/secure-agent/libs/bootstrap"
	"github.com/secure-agent/secure-agent/libs/daprclient"
	"github.com/secure-agent/secure-agent/libs/daprtest"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/libs/objectstore"
	"github.com/secure-agent/secure-agent/libs/pubsub"
	"github.com/secure-agent/secure-agent/services/publisher/internal/service"
)

const conn = "default/postgres/1700000000"

// harness runs the publisher app in-process behind a real daprd with
// in-memory pub/sub and state and local-storage bindings for staging and
// two destinations. It also subscribes the app to publish-done and the
// dead-letter topic, so tests see what the publisher sent through the
// broker.
type harness struct {
	t                              *testing.T
	sidecar                        *daprtest.Sidecar
	client                         *daprclient.Sidecar
	stagingDir, destDir, mirrorDir string
	staging                        *objectstore.Store
	events                         *pubsub.Publisher
	reg                            *prometheus.Registry
	// spans and logs record what the app's handlers trace and log.
	spans *tracetest.SpanRecorder
	logs  *observer.ObservedLogs

	mu   sync.Mutex
	done []job.PublishDone
	dead []json.RawMessage
}

func component(name, typ string, md map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: %s\nspec:\n  type: %s\n  version: v1\n  metadata:\n", name, typ)
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "    - name: %s\n      value: %q\n", k, md[k])
	}
	if len(md) == 0 {
		b.WriteString("    []\n")
	}
	return b.String()
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs the publisher with env added to its settings.
func start(t *testing.T, env map[string]string) *harness {
	t.Helper()
	return startWith(t, env, nil)
}

// startWith runs the publisher with env added to its settings and extra
// Dapr components (file name to YAML) next to the usual ones.
func startWith(t *testing.T, env, extra map[string]string) *harness {
	t.Helper()
	h := &harness{t: t, stagingDir: t.TempDir(), destDir: t.TempDir(), mirrorDir: t.TempDir()}
	appPort := freePort(t)
	resources := map[string]string{
		"pubsub.yaml":      component("pubsub", "pubsub.in-memory", nil),
		"state.yaml":       component("statestore", "state.in-memory", nil),
		"staging.yaml":     component("staging", "bindings.localstorage", map[string]string{"rootPath": h.stagingDir}),
		"destination.yaml": component("destination", "bindings.localstorage", map[string]string{"rootPath": h.destDir}),
		"mirror.yaml":      component("mirror", "bindings.localstorage", map[string]string{"rootPath": h.mirrorDir}),
	}
	for name, yaml := range extra {
		resources[name] = yaml
	}
	h.sidecar = daprtest.Start(t, daprtest.Options{AppID: "publisher", AppPort: appPort, Resources: resources})

	settings := map[string]string{
		"APP_ID": "publisher", "APP_PORT": strconv.Itoa(appPort),
		"DAPR_HTTP_PORT": strconv.Itoa(h.sidecar.HTTPPort), "DAPR_GRPC_PORT": strconv.Itoa(h.sidecar.GRPCPort),
		"LOG_FORMAT": "console", "SHUTDOWN_TIMEOUT": "1s",
		// One app alone: no audit writer to record in.
		"AUDIT": "off",
	}
	for k, v := range env {
		settings[k] = v
	}
	spec := service.Spec()
	wire := spec.Wire
	h.reg = prometheus.NewRegistry()
	h.spans = tracetest.NewSpanRecorder()
	observed, logs := observer.New(zap.DebugLevel)
	h.logs = logs
	spec.Wire = func(ctx context.Context, d bootstrap.Deps) (func(context.Context) error, error) {
		// The service's metrics go to a registry the test reads in-process:
		// scraping /metrics while daprd calls the app trips the race
		// detector in libs/httpserver (request labels alias fasthttp's
		// buffers).
		d.Registry = h.reg
		// The service's own spans and log lines are recorded too; the
		// server and consumer spans around its handlers stay bootstrap's.
		d.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
			sdktrace.WithSpanProcessor(h.spans))
		d.Logger = zap.New(zapcore.NewTee(d.Logger.Core(), observed))
		flush, err := wire(ctx, d)
		d.Router.Subscribe(job.TopicPublishDone, "", func(_ context.Context, ev pubsub.Event) error {
			var pd job.PublishDone
			if err := ev.Decode(&pd); err != nil {
				return err
			}
			h.mu.Lock()
			h.done = append(h.done, pd)
			h.mu.Unlock()
			return nil
		})
		d.Router.Subscribe(job.TopicDeadLetter, "", func(_ context.Context, ev pubsub.Event) error {
			h.mu.Lock()
			h.dead = append(h.dead, ev.Data)
			h.mu.Unlock()
			return nil
		})
		return flush, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- bootstrap.Run(ctx, spec, nil, func(k string) (string, bool) { v, ok := settings[k]; return v, ok })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil && strings.Contains(err.Error(), "http server shutdown within") {
				// fasthttp waits for connections daprd opened but never
				// used until their read timeout (libs/httpserver): not
				// the publisher's doing, so noted rather than failed.
				t.Logf("publisher stopped late: %v", err)
				return
			}
			require.NoError(t, err)
		case <-time.After(15 * time.Second):
			t.Error("publisher did not stop within 15s")
		}
	})

	c, err := daprclient.Connect(context.Background(), daprclient.Options{
		AppID: "publisher-test", HTTPPort: h.sidecar.HTTPPort, GRPCPort: h.sidecar.GRPCPort, WaitTimeout: 30 * time.Second,
	})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	h.client = c
	h.staging = objectstore.New(c.Client(), "staging")
	h.events = pubsub.NewPublisher(c.Client(), "pubsub")

	// The sidecar reads the subscriptions once the app answers; wait for
	// them so no event is published before anyone listens.
	h.eventually("daprd has the publisher's subscriptions", func() bool {
		select {
		case err := <-errc:
			t.Fatalf("publisher stopped: %v", err)
		default:
		}
		md, err := c.Metadata(context.Background())
		if err != nil {
			return false
		}
		topics := map[string]bool{}
		for _, s := range md.Subscriptions {
			topics[s.Topic] = true
		}
		return topics[job.TopicBatchReady] && topics[job.TopicPartitionDone] && topics[job.TopicPublishDone]
	})
	return h
}

// eventually polls cond until it holds, failing the test after 30s.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting until %s\ndaprd log:\n%s", what, h.sidecar.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *harness) publish(topic string, v any) {
	h.t.Helper()
	require.NoError(h.t, h.events.Publish(context.Background(), topic, v))
}

// publishRaw publishes data as-is (for events that do not decode).
func (h *harness) publishRaw(topic string, data []byte) {
	h.t.Helper()
	require.NoError(h.t, h.client.Client().PublishEvent(context.Background(), "pubsub", topic, data,
		dapr.PublishEventWithContentType("application/json")))
}

// publishDones returns the PublishDone events seen for a partition.
func (h *harness) publishDones(jobID, partition string) []job.PublishDone {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []job.PublishDone
	for _, d := range h.done {
		if d.JobID == jobID && d.Partition == partition {
			out = append(out, d)
		}
	}
	return out
}

// waitPublishDone waits for the n-th PublishDone of a partition.
func (h *harness) waitPublishDone(jobID, partition string, n int) job.PublishDone {
	h.t.Helper()
	h.eventually(fmt.Sprintf("publish-done #%d of %s/%s arrived", n, jobID, partition), func() bool {
		return len(h.publishDones(jobID, partition)) >= n
	})
	return h.publishDones(jobID, partition)[n-1]
}

func (h *harness) deadLetters() []json.RawMessage {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.dead)
}

// metric reads a counter or gauge of the publisher's own metrics, or a
// histogram's count of observations; labels are name, value pairs. A
// sample not yet created reads 0.
func (h *harness) metric(name string, labels ...string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	require.NoError(h.t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	samples:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if got[labels[i]] != labels[i+1] {
					continue samples
				}
			}
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func (h *harness) waitMetric(want float64, name string, labels ...string) {
	h.t.Helper()
	h.eventually(fmt.Sprintf("%s%v reaches %v", name, labels, want), func() bool { return h.metric(name, labels...) >= want })
}

// finalize invokes POST /v1/jobs/{id}/finalize through the sidecar.
func (h *harness) finalize(req job.FinalizeRequest) (job.Finalized, error) {
	var out job.Finalized
	err := h.client.InvokeJSON(context.Background(), "publisher", http.MethodPost, "v1/jobs/"+req.JobID+"/finalize", req, &out)
	return out, err
}

func (h *harness) invoke(verb, method string) *daprclient.InvokeResult {
	h.t.Helper()
	r, err := h.client.Invoke(context.Background(), "publisher", verb, method)
	require.NoError(h.t, err)
	return r
}

// stagedFiles lists the files left under the job's staging folder.
func (h *harness) stagedFiles(jobID string) []string {
	return filesUnder(h.t, filepath.Join(h.stagingDir, job.StagingPrefix(jobID)))
}

func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	slices.Sort(out)
	return out
}

// catalog describes what one staged file of a run holds: tables of one
// schema, each with cols columns. Different names give different runs
// different content.
type catalog struct {
	database, schema string
	tables, cols     int
	tablePrefix      string
}

// stageRun builds the run's files with model.Writer and FileSink (one
// FileSink per seq, as the extractor stages one file per kind and seq),
// puts each into staging under its staging key and returns their
// BatchReady announcements in staging order.
func (h *harness) stageRun(jobID, partition, run string, seqs []catalog) []job.BatchReady {
	h.t.Helper()
	var out []job.BatchReady
	for seq, c := range seqs {
		dir := h.t.TempDir()
		sink, err := model.NewFileSink(dir)
		require.NoError(h.t, err)
		w, err := model.NewWriter(sink, model.WriterOptions{JobID: jobID, MaxRows: 64})
		require.NoError(h.t, err)
		n := model.Names{Connection: conn, Database: c.database, Schema: c.schema}
		if seq == 0 {
			require.NoError(h.t, w.Database(model.Database{QualifiedName: n.DatabaseQN(), ParentQualifiedName: conn, Name: c.database}))
			require.NoError(h.t, w.Schema(model.Schema{QualifiedName: n.SchemaQN(), ParentQualifiedName: n.DatabaseQN(), Database: c.database, Name: c.schema}))
		}
		for i := range c.tables {
			tn := n
			tn.Table = fmt.Sprintf("%s%04d", c.tablePrefix, i)
			require.NoError(h.t, w.Table(model.Table{QualifiedName: tn.TableQN(), ParentQualifiedName: n.SchemaQN(),
				Database: c.database, Schema: c.schema, Name: tn.Table, Kind: model.TableKindTable, Comment: model.Ptr("table " + tn.Table)}))
			for j := range c.cols {
				col := fmt.Sprintf("column_%03d", j)
				require.NoError(h.t, w.Column(model.Column{QualifiedName: tn.ChildQN(col), ParentQualifiedName: tn.TableQN(),
					Database: c.database, Schema: c.schema, Table: tn.Table, Name: col, Ordinal: int32(j + 1), DataType: "text",
					IsNullable: true, Comment: model.Ptr(fmt.Sprintf("comment %d of %s", j, tn.TableQN()))}))
			}
		}
		require.NoError(h.t, w.Close())
		files, err := sink.Close()
		require.NoError(h.t, err)
		for _, f := range files {
			data, err := os.ReadFile(filepath.Join(dir, f.Name))
			require.NoError(h.t, err)
			key := job.StagingKey(jobID, partition, run, f.Kind, seq)
			require.NoError(h.t, h.staging.Put(context.Background(), key, data))
			out = append(out, job.BatchReady{JobID: jobID, Partition: partition, Run: run, Kind: f.Kind, Seq: seq,
				Key: key, SHA256: f.SHA256, Bytes: f.Bytes, Rows: f.Rows})
		}
	}
	return out
}

// partitionDone is the successful PartitionDone of a staged run of
// database shop, schema sales.
func partitionDone(files []job.BatchReady, dests ...job.Destination) job.PartitionDone {
	f := files[0]
	rows := map[model.Kind]int64{}
	for _, b := range files {
		rows[b.Kind] += b.Rows
	}
	return job.PartitionDone{JobID: f.JobID, Partition: f.Partition, Attempt: 1, Run: f.Run, OK: true,
		Files: files, Rows: rows, Queries: 11, Database: "shop", Schemas: []string{"sales"}, Destinations: dests}
}

// readUpload hashes an uploaded file and returns its sha256, rows and the
// qualified names it holds.
func readUpload(t *testing.T, path string) (string, int64, []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	var rows int64
	var qns []string
	require.NoError(t, model.ReadFile(path, func(_ model.Kind, rec arrow.Record) error {
		rows += rec.NumRows()
		col := rec.Column(0)
		for i := 0; i < col.Len(); i++ {
			qns = append(qns, col.ValueStr(i))
		}
		return nil
	}))
	return hex.EncodeToString(sum[:]), rows, qns
}

func totalRows(files []job.BatchReady) map[model.Kind]int64 {
	rows := map[model.Kind]int64{}
	for _, b := range files {
		rows[b.Kind] += b.Rows
	}
	return rows
}

func spec(dests ...job.Destination) job.Spec {
	s := job.Spec{Version: job.SpecVersion, Connection: conn,
		Source:        job.Source{Kind: "postgres", DSN: "postgres://agent@db.internal:5432/shop?sslmode=require", Databases: []string{"shop"}},
		ExcludeFields: []string{"comment"}, Destinations: dests}
	s.Normalize()
	return s
}
