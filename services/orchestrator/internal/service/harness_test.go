package service

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dapr/durabletask-go/workflow"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/bootstrap"
	"github.com/secure-agent/secure-agent/libs/daprclient"
	"github.com/secure-agent/secure-agent/libs/daprtest"
	"github.com/secure-agent/secure-agent/libs/httpserver"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/pubsub"
)

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// freePorts reserves n distinct loopback ports: all listeners stay open
// until every port is chosen, so the set has no duplicates. Another
// process may still take one before our child binds it; controlPlane
// retries with new ports when that happens.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// process is a child started by startProcess.
type process struct {
	name string
	pid  int
	done chan struct{}
	out  *daprtest.Buffer
}

// startProcess runs bin until the test ends (or stop); its output is shown
// on failure.
func startProcess(t *testing.T, name, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: name, done: make(chan struct{}), out: &daprtest.Buffer{}}
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir()
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start(), "start %s", name)
	p.pid = cmd.Process.Pid
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, tail(p.out.String(), 4000))
		}
	})
	return p
}

// waitHealthy polls url until it answers 200; it fails if the process
// exits first (returned as an error, so the caller can retry) or after 60s.
func waitHealthy(t *testing.T, p *process, url string) error {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was healthy:\n%s", p.name, tail(p.out.String(), 1500))
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not healthy at %s within 60s", p.name, url)
	return nil
}

// controlPlane starts Dapr placement and scheduler without mTLS and
// returns the daprd flags that point at them. A port taken between
// choosing and binding it makes the process exit; then it tries again
// with new ports.
func controlPlane(t *testing.T) ([]string, map[string]*process) {
	t.Helper()
	bin := filepath.Dir(daprtest.Daprd(t))
	for _, b := range []string{"placement", "scheduler"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			t.Fatalf("%s not found next to daprd: run `make tools`", b)
		}
	}
	var lastErr error
	for range 3 {
		flags, procs, err := tryControlPlane(t, bin)
		if err == nil {
			return flags, procs
		}
		lastErr = err
		t.Logf("control plane did not start, trying new ports: %v", err)
	}
	t.Fatalf("control plane did not start: %v", lastErr)
	return nil, nil
}

func tryControlPlane(t *testing.T, bin string) ([]string, map[string]*process, error) {
	lo := "127.0.0.1"
	ports := freePorts(t, 9)
	pl := map[string]int{"grpc": ports[0], "raft": ports[1], "healthz": ports[2], "metrics": ports[3]}
	sc := map[string]int{"grpc": ports[4], "healthz": ports[5], "metrics": ports[6], "client": ports[7], "peer": ports[8]}
	placement := startProcess(t, "placement", filepath.Join(bin, "placement"),
		"--id", "dapr-placement-0", "--initial-cluster", fmt.Sprintf("dapr-placement-0=%s:%d", lo, pl["raft"]),
		"--port", strconv.Itoa(pl["grpc"]), "--listen-address", lo,
		"--healthz-port", strconv.Itoa(pl["healthz"]), "--healthz-listen-address", lo,
		"--metrics-port", strconv.Itoa(pl["metrics"]), "--metrics-listen-address", lo, "--log-level", "warn")
	dir := t.TempDir()
	scheduler := startProcess(t, "scheduler", filepath.Join(bin, "scheduler"),
		"--id", "dapr-scheduler-server-0", "--mode", "standalone",
		"--port", strconv.Itoa(sc["grpc"]), "--listen-address", lo,
		"--override-broadcast-host-port", fmt.Sprintf("%s:%d", lo, sc["grpc"]),
		"--healthz-port", strconv.Itoa(sc["healthz"]), "--healthz-listen-address", lo,
		"--metrics-port", strconv.Itoa(sc["metrics"]), "--metrics-listen-address", lo,
		"--etcd-data-dir", filepath.Join(dir, "etcd"), "--etcd-client-port", strconv.Itoa(sc["client"]),
		"--etcd-client-listen-address", lo,
		"--etcd-initial-cluster", fmt.Sprintf("dapr-scheduler-server-0=http://%s:%d", lo, sc["peer"]),
		"--identity-directory-write", filepath.Join(dir, "identity"), "--log-level", "warn")
	if err := waitHealthy(t, placement, fmt.Sprintf("http://%s:%d/healthz", lo, pl["healthz"])); err != nil {
		return nil, nil, err
	}
	if err := waitHealthy(t, scheduler, fmt.Sprintf("http://%s:%d/healthz", lo, sc["healthz"])); err != nil {
		return nil, nil, err
	}
	return []string{
		"--placement-host-address", fmt.Sprintf("%s:%d", lo, pl["grpc"]),
		"--scheduler-host-address", fmt.Sprintf("%s:%d", lo, sc["grpc"]),
	}, map[string]*process{"placement": placement, "scheduler": scheduler}, nil
}

const components = `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.in-memory
  version: v1
  metadata:
    - name: actorStateStore
      value: "true"
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.in-memory
  version: v1
`

// stack is a control plane, the orchestrator's sidecar, the fake
// extractor and publisher, and one orchestrator app at a time.
type stack struct {
	t       *testing.T
	cfg     Config
	appPort int
	sidecar *daprtest.Sidecar
	world   *world
	log     *daprtest.Buffer
	app     *appInstance
	client  *http.Client
	// appID is unique: name resolution (mDNS) is machine-wide, and other
	// tests or a running stack must never reach this test's sidecar.
	appID string
	// control are the placement and scheduler processes.
	control map[string]*process
	// spans records every span the app ends; reg is the app's registry.
	spans *tracetest.SpanRecorder
	tp    *sdktrace.TracerProvider
	reg   *prometheus.Registry
}

type appInstance struct {
	stop func()
	url  string
}

func newStack(t *testing.T, cfg Config) *stack {
	t.Helper()
	if cfg.StateStore == "" {
		cfg.StateStore = "statestore"
	}
	if cfg.JobListLimit == 0 {
		cfg.JobListLimit = 100
	}
	if cfg.SlotRetry == 0 {
		cfg.SlotRetry = time.Second
	}
	if cfg.ActivityRetry.MaxAttempts == 0 {
		cfg.ActivityRetry = workflow.RetryPolicy{MaxAttempts: 3, InitialRetryInterval: 500 * time.Millisecond, BackoffCoefficient: 2}
	}
	spans := tracetest.NewSpanRecorder()
	s := &stack{t: t, cfg: cfg, log: &daprtest.Buffer{}, client: &http.Client{Transport: &http.Transport{}},
		spans: spans, tp: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)),
		appID: fmt.Sprintf("orch-test-%d", time.Now().UnixNano())}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("orchestrator log:\n%s", tail(s.log.String(), 20000))
			if s.sidecar != nil {
				t.Logf("daprd log:\n%s", tail(s.sidecar.Log(), 6000))
			}
		}
	})
	cp, control := controlPlane(t)
	s.control = control
	// The app's port must be open before daprd starts; the app itself is
	// wired once the sidecar is up, as bootstrap does.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.appPort = ln.Addr().(*net.TCPAddr).Port
	s.sidecar = daprtest.Start(t, daprtest.Options{
		AppID: s.appID, AppPort: s.appPort, Args: cp,
		Resources: map[string]string{"components.yaml": components},
	})
	s.world = newWorld(t, s.connect(t.Context()))
	s.app = s.startApp(ln)
	t.Cleanup(func() {
		if s.app != nil {
			s.stopApp()
		}
	})
	return s
}

func (s *stack) connect(ctx context.Context) *daprclient.Sidecar {
	sc, err := daprclient.Connect(ctx, daprclient.Options{AppID: s.appID, HTTPPort: s.sidecar.HTTPPort,
		GRPCPort: s.sidecar.GRPCPort, WaitTimeout: 30 * time.Second})
	require.NoError(s.t, err)
	s.t.Cleanup(sc.Close)
	return sc
}

// startApp runs the orchestrator in-process on ln, the way bootstrap.Run
// does: HTTP server, sidecar client, wiring, serve.
func (s *stack) startApp(ln net.Listener) *appInstance {
	t := s.t
	log := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()), s.log, zap.DebugLevel))
	reg := prometheus.NewRegistry()
	s.reg = reg
	prop := propagation.TraceContext{}
	srv, err := httpserver.New(httpserver.Options{Name: "orchestrator", Addr: ln.Addr().String(), Logger: log, Registry: reg,
		ShutdownTimeout: 2 * time.Second, TracerProvider: s.tp, Propagator: prop})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	sidecar, err := daprclient.Connect(ctx, daprclient.Options{AppID: s.appID, HTTPPort: s.sidecar.HTTPPort,
		GRPCPort: s.sidecar.GRPCPort, WaitTimeout: 30 * time.Second, Logger: log, TracerProvider: s.tp, Propagator: prop})
	require.NoError(t, err)
	traced := pubsub.WithTracerProvider(s.tp)
	router, err := pubsub.NewRouter(srv.App(), "pubsub", log, reg, traced)
	require.NoError(t, err)
	d := bootstrap.Deps{Logger: log, Registry: reg, Sidecar: sidecar, App: srv.App(), Router: router,
		Publisher: pubsub.NewPublisher(sidecar.Client(), "pubsub", traced), AddReadyCheck: srv.AddReadyCheck,
		TracerProvider: s.tp, Propagator: prop,
		// One app alone: no audit writer to record in (AUDIT=off).
		Audit: audit.Off{}, SecretGetter: sidecar.Client()}
	flush, err := Wire(ctx, d, s.cfg, s.world.collaborators())
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	var once sync.Once
	return &appInstance{
		url: "http://" + ln.Addr().String(),
		stop: func() {
			once.Do(func() {
				cancel()
				// daprd sometimes leaves a connection with a request it never
				// finishes sending; the server then gives up waiting for it
				// after ShutdownTimeout. That is libs/httpserver's concern,
				// not the orchestrator's, so it is only logged here.
				if err := <-served; err != nil {
					log.Warn("app shutdown", zap.Error(err))
				}
				fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer fcancel()
				require.NoError(t, flush(fctx))
				sidecar.Close()
			})
		},
	}
}

// stopApp stops the app; the test's idle connections are closed first
// (the server waits for connections that never sent a request).
func (s *stack) stopApp() {
	s.client.CloseIdleConnections()
	s.app.stop()
}

// restart stops the app and starts a new one on the same port and sidecar.
func (s *stack) restart() {
	s.stopApp()
	var ln net.Listener
	require.Eventually(s.t, func() bool {
		var err error
		ln, err = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(s.appPort))
		return err == nil
	}, 10*time.Second, 50*time.Millisecond)
	s.app = s.startApp(ln)
}

// answer is an HTTP response of the app.
type answer struct {
	Status int
	Body   []byte
}

func (s *stack) do(method, path, body string, header ...string) answer {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.app.url+path, strings.NewReader(body))
	require.NoError(s.t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.client.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return answer{Status: resp.StatusCode, Body: b}
}

func (s *stack) submit(spec string) string {
	s.t.Helper()
	a := s.do(http.MethodPost, "/v1/jobs", spec)
	require.Equal(s.t, http.StatusAccepted, a.Status, "submit: %s", a.Body)
	var sub job.Submitted
	require.NoError(s.t, json.Unmarshal(a.Body, &sub))
	require.NotEmpty(s.t, sub.ID)
	return sub.ID
}

func (s *stack) status(id string) job.Status {
	s.t.Helper()
	a := s.do(http.MethodGet, "/v1/jobs/"+id, "")
	require.Equal(s.t, http.StatusOK, a.Status, "status: %s", a.Body)
	var st job.Status
	require.NoError(s.t, json.Unmarshal(a.Body, &st))
	return st
}

// waitFor polls the job until cond holds.
func (s *stack) waitFor(id, what string, timeout time.Duration, cond func(job.Status) bool) job.Status {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	var last job.Status
	for time.Now().Before(deadline) {
		last = s.status(id)
		if cond(last) {
			return last
		}
		if last.State.Terminal() {
			s.t.Fatalf("job %s ended %s while waiting for %s: %v", id, last.State, what, last.Errors)
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.t.Fatalf("job %s: %s not reached within %s (last: state %s phase %s partitions %+v errors %v)",
		id, what, timeout, last.State, last.Phase, last.Partitions, last.Errors)
	return last
}

func (s *stack) waitEnd(id string, timeout time.Duration) job.Status {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if st := s.status(id); st.State.Terminal() {
			return st
		}
		time.Sleep(200 * time.Millisecond)
	}
	st := s.status(id)
	s.t.Fatalf("job %s did not end within %s (state %s phase %s partitions %+v)", id, timeout, st.State, st.Phase, st.Partitions)
	return st
}

// slots reads the slot holders of a connection from the state store.
func (s *stack) slots(connection string) []string {
	s.t.Helper()
	item, err := s.world.sidecar.Client().GetState(context.Background(), "statestore", "slots/"+connection, nil)
	require.NoError(s.t, err)
	if len(item.Value) == 0 {
		return nil
	}
	var v struct {
		Holders []string `json:"holders"`
	}
	require.NoError(s.t, json.Unmarshal(item.Value, &v))
	return v.Holders
}

func specFor(name, connection string, timeout string, databases ...string) string {
	return fmt.Sprintf(`version: 1
name: %s
connection: %s
source:
  kind: postgres
  dsn: postgres://agent@db.internal:5432/postgres
  databases: [%s]
partitioning:
  timeout: %s
  retries: 1
`, name, connection, strings.Join(databases, ", "), timeout)
}
