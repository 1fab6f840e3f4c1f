package service_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/secure-agent/secure-agent/libs/bootstrap"
	"github.com/secure-agent/secure-agent/libs/controlplane"
	"github.com/secure-agent/secure-agent/libs/daprclient"
	"github.com/secure-agent/secure-agent/libs/daprtest"
	"github.com/secure-agent/secure-agent/libs/logging"
	"github.com/secure-agent/secure-agent/libs/logship"
	"github.com/secure-agent/secure-agent/libs/pubsub"
	"github.com/secure-agent/secure-agent/services/health/internal/service"
)

const canary = "s3cr3t-Canary-41ab"

// controlPlane records what health sends over real HTTPS: heartbeats and
// log batches, behind a client-credentials token endpoint.
type controlPlane struct {
	srv *httptest.Server

	mu    sync.Mutex
	beats []controlplane.Heartbeat
	logs  map[string][]controlplane.LogLine
	raw   strings.Builder // every request body, decompressed
}

func newControlPlane(t *testing.T) *controlPlane {
	cp := &controlPlane{logs: map[string][]controlplane.LogLine{}}
	cp.srv = httptest.NewTLSServer(http.HandlerFunc(cp.serve))
	t.Cleanup(cp.srv.Close)
	return cp
}

func (cp *controlPlane) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/token" {
		if id, secret, _ := r.BasicAuth(); id != "agent-client" || secret != "agent-secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"tok","token_type":"Bearer","expires_in":3600}`))
		return
	}
	if r.Header.Get("Authorization") != "Bearer tok" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/api/agent/v1")
	switch {
	case path == "/heartbeat":
		var hb controlplane.Heartbeat
		if err := json.NewDecoder(r.Body).Decode(&hb); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		cp.mu.Lock()
		cp.beats = append(cp.beats, hb)
		cp.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case strings.HasPrefix(path, "/jobs/") && strings.HasSuffix(path, "/logs"):
		job := strings.TrimSuffix(strings.TrimPrefix(path, "/jobs/"), "/logs")
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		sc := bufio.NewScanner(zr)
		cp.mu.Lock()
		defer cp.mu.Unlock()
		for sc.Scan() {
			cp.raw.Write(sc.Bytes())
			var l controlplane.LogLine
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			cp.logs[job] = append(cp.logs[job], l)
		}
		w.WriteHeader(http.StatusOK)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (cp *controlPlane) caFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cp.srv.Certificate().Raw}), 0o600))
	return p
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestControlPlaneLink runs the health service behind a real daprd with a
// control plane configured. A job's log line, captured by logship in
// another "service" and published through the real broker, reaches the
// control plane redacted; heartbeats go out although the orchestrator
// cannot be reached.
func TestControlPlaneLink(t *testing.T) {
	cp := newControlPlane(t)
	secretsFile := filepath.Join(t.TempDir(), "secrets.json")
	require.NoError(t, os.WriteFile(secretsFile,
		[]byte(`{"controlplane-client-id":"agent-client","controlplane-client-secret":"agent-secret"}`), 0o600))
	suffix := fmt.Sprintf("%x", time.Now().UnixNano())
	healthID, orchID := "sa-test-health-"+suffix, "sa-test-orch-"+suffix
	appPort := freePort(t)
	sc := daprtest.Start(t, daprtest.Options{
		AppID: healthID, AppPort: appPort, Env: []string{"DAPR_HOST_IP=127.0.0.1"},
		Resources: map[string]string{
			"pubsub.yaml":  "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: pubsub\nspec:\n  type: pubsub.in-memory\n  version: v1\n  metadata: []\n",
			"secrets.yaml": daprtest.LocalFileSecretStore("secrets", secretsFile),
		},
	})
	settings := map[string]string{
		"APP_ID": healthID, "APP_PORT": strconv.Itoa(appPort),
		"DAPR_HTTP_PORT": strconv.Itoa(sc.HTTPPort), "DAPR_GRPC_PORT": strconv.Itoa(sc.GRPCPort),
		"LOG_FORMAT": "console", "SHUTDOWN_TIMEOUT": "2s", "AUDIT": "off",
		"HEALTH_APPS": orchID, "ORCHESTRATOR_APP_ID": orchID,
		"CONTROLPLANE_URL": cp.srv.URL + "/api/agent/v1", "CONTROLPLANE_TOKEN_URL": cp.srv.URL + "/token",
		"CONTROLPLANE_CA_FILE": cp.caFile(t), "AGENT_ID": "agent-it", "HEARTBEAT_INTERVAL": "1s",
		"SHIP_JOB_LOGS": "true", // as the stack sets it on every app; health ignores it
	}
	spec := service.Spec()
	wire := spec.Wire
	reg := prometheus.NewRegistry()
	spans := tracetest.NewSpanRecorder()
	spec.Wire = func(ctx context.Context, d bootstrap.Deps) (func(context.Context) error, error) {
		d.Registry = reg // not scraped over HTTP (see the publisher's harness)
		d.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(spans))
		return wire(ctx, d)
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
			if err != nil && !strings.Contains(err.Error(), "http server shutdown within") {
				t.Errorf("health stopped with: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("health did not stop within 20s")
		}
	})

	client, err := daprclient.Connect(context.Background(), daprclient.Options{
		AppID: "health-test", HTTPPort: sc.HTTPPort, GRPCPort: sc.GRPCPort, WaitTimeout: 30 * time.Second,
	})
	require.NoError(t, err)
	t.Cleanup(client.Close)
	eventually(t, sc, "daprd has health's job-logs subscription", func() bool {
		md, err := client.Metadata(context.Background())
		if err != nil {
			return false
		}
		for _, s := range md.Subscriptions {
			if s.Topic == logship.Topic {
				return true
			}
		}
		return false
	})

	// Another service logs for a job and ships it through the broker.
	ship, err := logship.New(logship.Options{Service: "extractor"}, pubsub.NewPublisher(client.Client(), "pubsub"))
	require.NoError(t, err)
	base, err := logging.New(logging.Options{Service: "extractor", Output: zapcore.AddSync(&strings.Builder{})})
	require.NoError(t, err)
	log := base.WithOptions(zap.WrapCore(ship.Tee)).With(zap.String("job_id", "job-42"))
	log.Info("extracting postgres://svc:"+canary+"@db:5432/app", zap.String("password", canary), zap.Int("tables", 12))
	fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer fcancel()
	require.NoError(t, ship.Flush(fctx))

	eventually(t, sc, "the job's log line reached the control plane", func() bool {
		cp.mu.Lock()
		defer cp.mu.Unlock()
		return len(cp.logs["job-42"]) == 1
	})
	cp.mu.Lock()
	line := cp.logs["job-42"][0]
	raw := cp.raw.String()
	cp.mu.Unlock()
	require.NotContains(t, raw, canary)
	require.Equal(t, "extractor", line.Service)
	require.Equal(t, "info", line.Level)
	require.Contains(t, line.Msg, "postgres://svc:")
	require.EqualValues(t, 12, line.Fields["tables"])
	require.Equal(t, logging.Redacted, line.Fields["password"])

	eventually(t, sc, "two heartbeats arrived", func() bool {
		cp.mu.Lock()
		defer cp.mu.Unlock()
		return len(cp.beats) >= 2
	})
	cp.mu.Lock()
	hb := cp.beats[0]
	cp.mu.Unlock()
	require.Equal(t, "agent-it", hb.AgentID)
	require.Equal(t, controlplane.AgentDown, hb.Status, "the watched orchestrator does not run")
	require.False(t, hb.Apps[orchID].Ready)
	require.NotEmpty(t, hb.Apps[orchID].Error)
	require.True(t, hb.Apps[healthID].Ready, "health's own sidecar")
	require.Zero(t, hb.JobsRunning)

	// Metrics and spans of the link: beats and uploads are root spans of
	// their own traces with the control-plane calls inside, and none holds
	// the client secret, the token or a canary of the job's log.
	require.GreaterOrEqual(t, gathered(t, reg, "secure_agent_heartbeats_total", "result", "ok"), 2.0)
	require.GreaterOrEqual(t, gathered(t, reg, "secure_agent_secret_reads_total", "store", "secrets", "result", "ok"), 2.0)
	require.Equal(t, 1.0, gathered(t, reg, "secure_agent_log_upload_lines_total"))
	byID := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans.Ended() {
		byID[s.SpanContext().SpanID().String()] = s
	}
	parentOf := func(name string) []string {
		var out []string
		for _, s := range spans.Ended() {
			if s.Name() == name {
				p, ok := byID[s.Parent().SpanID().String()]
				require.True(t, ok, "%s has a recorded parent", name)
				require.False(t, p.Parent().IsValid(), "%s is a root span", p.Name())
				out = append(out, p.Name())
			}
		}
		return out
	}
	require.Contains(t, parentOf("POST /api/agent/v1/heartbeat"), "health heartbeat")
	// A job's upload is its own span (in the job's trace when its lines
	// name one; this job's lines name none, so in the round's).
	require.Equal(t, []string{"health log upload"}, parentOf("health upload job logs"))
	for _, s := range spans.Ended() {
		if s.Name() == "POST /api/agent/v1/jobs/{job_id}/logs" {
			require.Equal(t, "health upload job logs", byID[s.Parent().SpanID().String()].Name())
		}
	}
	for _, s := range spans.Ended() {
		text := s.Name() + " " + s.Status().Description
		for _, a := range s.Attributes() {
			text += " " + string(a.Key) + "=" + a.Value.Emit()
		}
		require.NotContains(t, text, "agent-secret")
		require.NotContains(t, text, canary)
		require.NotContains(t, strings.ToLower(text), "bearer")
	}
}

// gathered reads one sample of reg (a counter's value); labels are name,
// value pairs.
func gathered(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
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
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func eventually(t *testing.T, sc *daprtest.Sidecar, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s\ndaprd log:\n%s", what, sc.Log())
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}
