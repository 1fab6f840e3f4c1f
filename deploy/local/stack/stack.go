// Package stack runs the whole agent on one machine: NATS JetStream (local
// profile), Dapr Sentry, placement and scheduler, and each service with its
// own daprd. It is the engine of `make run` and of the integration tests.
package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/secure-agent/secure-agent/libs/daprclient"
)

// Options configure one stack.
type Options struct {
	Root          string // repository root: components/, bin/
	DataDir       string // all runtime data; created if missing
	Profile       string // local | redis
	PortBase      int
	RedisHost     string // redis profile
	RedisPassword string // redis profile; never printed
	RedisDB       int    // redis profile; lets two stacks share one server
	LogLevel      string // apps and sidecars
	StartTimeout  time.Duration
	// Replicas is how many processes of each app run, keyed by app id (1 to
	// MaxReplicas; a missing app or 0 is 1). Each replica has its own
	// sidecar and tokens, the same app id, and SA_INSTANCE=its process name
	// (InstanceName); replicas share their app's messages as competing
	// consumers.
	Replicas map[string]int
	// ExtractorReplicas is Replicas["extractor"] by its older name: 0 leaves
	// that to Replicas; set both and they must agree.
	ExtractorReplicas int
	// AckWait is how long the broker waits for a subscriber's answer before
	// redelivering (JetStream ackWait; default 60s).
	AckWait time.Duration
	// StreamMaxBytes limits each JetStream stream (local profile; default
	// DefaultStreamMaxBytes). The free space check at start depends on it.
	StreamMaxBytes int64
	// Restarts bounds how often one process is restarted after it dies on its
	// own once the stack is up (default 5 per 10 minutes); past it the stack stops.
	Restarts int
	// ControlPlane "local" runs the reference control plane and links the
	// agent to it; "" links nothing (a real one is set with CONTROLPLANE_* in
	// the environment, which every app inherits).
	ControlPlane string
	// AppEnv is extra environment for the four apps (not their sidecars),
	// e.g. CONTROLPLANE_* settings of a control plane run elsewhere.
	AppEnv []string
	// OTLPEndpoint (host:port, OTLP over gRPC without TLS) receives the
	// spans of every app and sidecar; empty exports none.
	OTLPEndpoint string
	// ExtraResources are more component directories every sidecar loads
	// (a vault secret store, say) besides the profile's.
	ExtraResources []string
	// Images runs the Dapr runtime and the four apps from unpacked images
	// instead of bin/: a directory with one root filesystem per image
	// (daprd, orchestrator, extractor, publisher, health), each process
	// confined by bin/sandbox as a hardened pod would be (uid 65532, no
	// capabilities, no_new_privs, read-only root, own mount and PID
	// namespaces). Needs root. NATS and the reference control plane stay
	// on bin/: they are not ours to ship.
	Images string
	// ImageBinds are more host paths bound read-only into every sandboxed
	// process (a demo database, say).
	ImageBinds []string
	Console    io.Writer // prefixed process output; nil discards it
	Progress   io.Writer // start-up progress lines; nil discards them
}

// Stack is a running local stack.
type Stack struct {
	Layout
	opts    Options
	console *lineWriter
	mu      sync.Mutex // guards procs (the supervisor replaces restarted ones)
	procs   []*process // start order
	anchors []byte
	http    *http.Client
	tokens  Tokens
	lock    *dataDirLock // held from prepare until Stop
}

// Profiles are the component sets under components/.
var Profiles = []string{"local", "redis"}

// Start brings the stack up and returns once every sidecar is healthy, has
// loaded its components and sees its app, and every app is ready. On any
// failure it stops what it started and says which part failed and why.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	s, err := prepare(opts)
	if err != nil {
		return nil, err
	}
	if err := s.start(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

func prepare(opts Options) (*Stack, error) {
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "info"
	}
	replicas, err := resolveReplicas(opts.Replicas, opts.ExtractorReplicas)
	if err != nil {
		return nil, err
	}
	opts.Replicas, opts.ExtractorReplicas = replicas, replicas["extractor"]
	if opts.AckWait <= 0 {
		opts.AckWait = 60 * time.Second
	}
	if opts.Restarts == 0 {
		opts.Restarts = 5
	}
	if opts.ControlPlane != "" && opts.ControlPlane != ControlPlaneLocal {
		return nil, fmt.Errorf("unknown CONTROLPLANE %q: use local (the reference control plane) or leave it empty", opts.ControlPlane)
	}
	if opts.Profile != "local" && opts.Profile != "redis" {
		return nil, fmt.Errorf("unknown PROFILE %q: use one of %s", opts.Profile, strings.Join(Profiles, ", "))
	}
	ports, err := PlanPorts(opts.PortBase)
	if err != nil {
		return nil, err
	}
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, err
	}
	opts.Root = root
	if opts.DataDir, err = filepath.Abs(opts.DataDir); err != nil {
		return nil, err
	}
	s := &Stack{Layout: Layout{ports: ports}, opts: opts, console: newLineWriter(opts.Console), http: &http.Client{Timeout: 3 * time.Second}}
	if err := s.checkBinaries(); err != nil {
		return nil, err
	}
	if err := s.checkImages(); err != nil {
		return nil, err
	}
	if err := s.claimDataDir(); err != nil {
		return nil, err
	}
	prepared := false
	defer func() {
		if !prepared {
			s.lock.release()
		}
	}()
	if err := s.checkPortsFree(); err != nil {
		return nil, err
	}
	if err := s.prepareDataDir(); err != nil {
		return nil, err
	}
	if err := s.prepareTokens(); err != nil {
		return nil, err
	}
	if _, err := s.writePrometheusConfig(); err != nil {
		return nil, err
	}
	comps, err := validateComponents(componentsDir(root, opts.Profile), s.componentEnv())
	if err != nil {
		return nil, err
	}
	s.components = comps
	for _, a := range Apps {
		if s.opts.OTLPEndpoint != "" {
			if _, err := s.tracedConfigFile(a); err != nil {
				return nil, err
			}
		}
		if _, err := os.Stat(s.configFile(a)); err != nil {
			return nil, fmt.Errorf("dapr configuration for %s: %w", a, err)
		}
	}
	if err := s.checkInputs(); err != nil {
		return nil, err
	}
	if err := s.handDataDirToImages(); err != nil {
		return nil, err
	}
	prepared = true
	return s, nil
}

func (s *Stack) binaries() []string {
	bins := append([]string{"daprd", "placement", "scheduler", "sentry", "nats-server"}, Apps...)
	if s.opts.ControlPlane == ControlPlaneLocal {
		bins = append(bins, "controlplane")
	}
	return bins
}

func (s *Stack) bin(name string) string { return filepath.Join(s.opts.Root, "bin", name) }

func (s *Stack) checkBinaries() error {
	var missing []string
	for _, b := range s.binaries() {
		if _, err := os.Stat(s.bin(b)); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing binaries in %s: %s; run `make tools build` first",
			filepath.Join(s.opts.Root, "bin"), strings.Join(missing, ", "))
	}
	return nil
}

func (s *Stack) checkPortsFree() error {
	var busy []string
	all := s.ports.Used(s.Instances())
	if s.opts.Profile == "local" {
		all[s.ports.NATS] = "nats"
	}
	for p, owner := range all {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			busy = append(busy, fmt.Sprintf("%d (%s)", p, owner))
			continue
		}
		ln.Close()
	}
	if len(busy) > 0 {
		return fmt.Errorf("ports already in use: %s; is another stack running? Stop it, or move this one with SA_PORT_BASE (now %d)",
			strings.Join(busy, ", "), s.ports.Base)
	}
	return nil
}

func (s *Stack) dir(parts ...string) string {
	return filepath.Join(append([]string{s.opts.DataDir}, parts...)...)
}

func (s *Stack) prepareDataDir() error {
	if err := s.removeSchedulerIdentities(); err != nil {
		return err
	}
	for _, d := range []string{"logs", "nats", "sentry", "scheduler", "staging", "destination", "state"} {
		if err := os.MkdirAll(s.dir(d), 0o700); err != nil {
			return fmt.Errorf("create data directory %s: %w", s.dir(d), err)
		}
	}
	secrets := s.dir("secrets.json")
	if _, err := os.Stat(secrets); errors.Is(err, os.ErrNotExist) {
		sample := filepath.Join(s.opts.Root, "deploy", "local", "secrets.sample.json")
		b, err := os.ReadFile(sample)
		if err != nil {
			return fmt.Errorf("read sample secrets %s: %w", sample, err)
		}
		if err := os.WriteFile(secrets, b, 0o600); err != nil {
			return fmt.Errorf("create %s: %w", secrets, err)
		}
	}
	return ensureAuditKeys(secrets, s.dir())
}

func (s *Stack) componentsDir() string { return componentsDir(s.opts.Root, s.opts.Profile) }

func componentsDir(root, profile string) string { return filepath.Join(root, "components", profile) }

func (s *Stack) configFile(app string) string {
	if s.opts.OTLPEndpoint != "" && app != "sentry" {
		return s.dir("config", app+".yaml")
	}
	return filepath.Join(s.opts.Root, "components", "config", app+".yaml")
}

// componentEnv is what the component files' envRef entries read.
func (s *Stack) componentEnv() map[string]string {
	return map[string]string{
		"SA_NATS_URL":        s.Layout.NATSURL(),
		"SA_STATE_DB":        "file:" + s.dir("state", "state.db"),
		"SA_HEALTH_STATE_DB": "file:" + s.dir("state", "health.db"),
		"SA_SECRETS_FILE":    s.dir("secrets.json"),
		"SA_STAGING_DIR":     s.dir("staging"),
		"SA_DESTINATION_DIR": s.dir("destination"),
		"SA_REDIS_HOST":      s.opts.RedisHost,
		"SA_REDIS_PASSWORD":  s.opts.RedisPassword,
		"SA_REDIS_DB":        strconv.Itoa(s.opts.RedisDB),
		"SA_ACK_WAIT":        ackWait(s.opts.AckWait).String(),
	}
}

func (s *Stack) start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.StartTimeout)
	defer cancel()
	if s.opts.Profile == "local" {
		s.progress("starting NATS JetStream on 127.0.0.1:%d", s.ports.NATS)
		if _, err := s.spawn("nats", s.bin("nats-server"), []string{
			"-a", "127.0.0.1", "-p", strconv.Itoa(s.ports.NATS), "-js", "-sd", s.dir("nats"), "-n", "secure-agent-local",
		}, nil); err != nil {
			return err
		}
		if err := s.waitTCP(ctx, "nats", s.ports.NATS); err != nil {
			return err
		}
		if err := ensureStreams(ctx, s.NATSURL(), s.streamMaxBytes()); err != nil {
			return err
		}
	} else {
		s.progress("checking Redis at %s", s.opts.RedisHost)
		if err := pingRedis(ctx, s.opts.RedisHost); err != nil {
			return err
		}
	}
	if err := s.startDaprControlPlane(ctx); err != nil {
		return err
	}
	if s.opts.ControlPlane == ControlPlaneLocal {
		if err := s.startReferenceControlPlane(ctx); err != nil {
			return err
		}
	}
	for _, a := range s.Instances() {
		if err := s.startApp(a); err != nil {
			return err
		}
	}
	return s.waitReady(ctx)
}

func (s *Stack) sentryArgs() []string {
	p := s.ports
	lo := "127.0.0.1"
	return []string{
		"--issuer-credentials", s.dir("sentry"), "--trust-domain", "localhost", "--mode", "standalone",
		"--config", s.configFile("sentry"),
		"--port", strconv.Itoa(p.SentryGRPC), "--listen-address", lo,
		"--healthz-port", strconv.Itoa(p.SentryHealthz), "--healthz-listen-address", lo,
		"--metrics-port", strconv.Itoa(p.SentryMetrics), "--metrics-listen-address", lo,
		"--log-level", s.opts.LogLevel,
	}
}

// createCA runs sentry once to write the stack's CA into data/sentry.
func (s *Stack) createCA(ctx context.Context) error {
	s.progress("creating the stack's certificate authority in %s", s.dir("sentry"))
	first, err := startProcess(s.procSpec("sentry", s.bin("sentry"), s.sentryArgs(), nil), s.console, s.dir("logs"))
	if err != nil {
		return err
	}
	defer func() { _ = first.stop(10 * time.Second) }()
	return s.poll(ctx, "sentry CA", func(context.Context) error {
		if first.exited() {
			return first.exitError()
		}
		for _, f := range []string{"ca.crt", "issuer.crt", "issuer.key"} {
			if _, err := os.Stat(s.dir("sentry", f)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Stack) startDaprControlPlane(ctx context.Context) error {
	p := s.ports
	lo := "127.0.0.1"
	s.progress("starting Dapr sentry (mTLS CA) on %s:%d", lo, p.SentryGRPC)
	if _, err := os.Stat(s.dir("sentry", "issuer.key")); errors.Is(err, os.ErrNotExist) {
		// A fresh sentry writes its CA, notices its own files change and
		// restarts its server; a sidecar asking for a certificate in that
		// moment dies. So the first start only creates the CA.
		if err := s.createCA(ctx); err != nil {
			return err
		}
	}
	if _, err := s.spawn("sentry", s.bin("sentry"), s.sentryArgs(), nil); err != nil {
		return err
	}
	if err := s.waitHTTP(ctx, "sentry", fmt.Sprintf("http://%s:%d/healthz", lo, p.SentryHealthz)); err != nil {
		return err
	}
	anchors, err := os.ReadFile(s.dir("sentry", "ca.crt"))
	if err != nil {
		return fmt.Errorf("sentry is up but wrote no trust anchors: %w", err)
	}
	s.anchors = anchors
	tls := []string{"--tls-enabled", "--sentry-address", fmt.Sprintf("%s:%d", lo, p.SentryGRPC),
		"--trust-anchors-file", s.dir("sentry", "ca.crt"), "--trust-domain", "localhost", "--log-level", s.opts.LogLevel}
	s.progress("starting Dapr placement and scheduler")
	if _, err := s.spawn("placement", s.bin("placement"), append([]string{
		"--id", "dapr-placement-0", "--initial-cluster", fmt.Sprintf("dapr-placement-0=%s:%d", lo, p.PlacementRaft),
		"--port", strconv.Itoa(p.PlacementGRPC), "--listen-address", lo,
		"--healthz-port", strconv.Itoa(p.PlacementHealthz), "--healthz-listen-address", lo,
		"--metrics-port", strconv.Itoa(p.PlacementMetrics), "--metrics-listen-address", lo,
	}, tls...), nil); err != nil {
		return err
	}
	if _, err := s.spawn("scheduler", s.bin("scheduler"), append([]string{
		"--id", "dapr-scheduler-server-0", "--mode", "standalone",
		"--port", strconv.Itoa(p.SchedulerGRPC), "--listen-address", lo,
		"--override-broadcast-host-port", fmt.Sprintf("%s:%d", lo, p.SchedulerGRPC),
		"--healthz-port", strconv.Itoa(p.SchedulerHealthz), "--healthz-listen-address", lo,
		"--metrics-port", strconv.Itoa(p.SchedulerMetrics), "--metrics-listen-address", lo,
		"--etcd-data-dir", s.dir("scheduler"), "--etcd-client-port", strconv.Itoa(p.EtcdClient),
		"--etcd-client-listen-address", lo,
		"--etcd-initial-cluster", fmt.Sprintf("dapr-scheduler-server-0=http://%s:%d", lo, p.EtcdPeer),
		"--identity-directory-write", s.schedulerIdentityDir(),
	}, tls...), nil); err != nil {
		return err
	}
	if err := s.waitHTTP(ctx, "placement", fmt.Sprintf("http://%s:%d/healthz", lo, p.PlacementHealthz)); err != nil {
		return err
	}
	return s.waitHTTP(ctx, "scheduler", fmt.Sprintf("http://%s:%d/healthz", lo, p.SchedulerHealthz))
}

// resolveReplicas checks the replica counts of Options and returns one for
// every app (missing or 0 is 1).
func resolveReplicas(byApp map[string]int, extractor int) (map[string]int, error) {
	out := map[string]int{}
	for a, n := range byApp {
		if !slices.Contains(Apps, a) {
			return nil, fmt.Errorf("replicas of unknown app %q: the apps are %s", a, strings.Join(Apps, ", "))
		}
		out[a] = n
	}
	if extractor != 0 {
		if n := out["extractor"]; n != 0 && n != extractor {
			return nil, fmt.Errorf("extractor replicas set twice: ExtractorReplicas %d, Replicas[extractor] %d", extractor, n)
		}
		out["extractor"] = extractor
	}
	for _, a := range Apps {
		if out[a] == 0 {
			out[a] = 1
		}
		if n := out[a]; n < 1 || n > MaxReplicas {
			return nil, fmt.Errorf("%s is %d: use 1 to %d", ReplicasVar(a), n, MaxReplicas)
		}
	}
	return out, nil
}

// replicas is how many processes of app this stack runs.
func (s *Stack) replicas(app string) int {
	n := s.opts.Replicas[app]
	if app == "extractor" && n == 0 {
		n = s.opts.ExtractorReplicas
	}
	return max(n, 1)
}

// Instances are the app processes this stack runs, in start order: each
// app in Apps order, its further replicas right after it (orchestrator,
// orchestrator-2, extractor, extractor-2, ...).
func (s *Stack) Instances() []string {
	var out []string
	for _, a := range Apps {
		for i := 1; i <= s.replicas(a); i++ {
			out = append(out, InstanceName(a, i))
		}
	}
	return out
}

func (s *Stack) startApp(name string) error {
	ap := s.ports.App[name]
	app := AppIDOf(name)
	lo := "127.0.0.1"
	s.progress("starting %s (app :%d, sidecar HTTP :%d gRPC :%d)", name, ap.App, ap.DaprHTTP, ap.DaprGRPC)
	// DAPR_HOST_IP is the address each sidecar registers for invocation:
	// its internal gRPC port listens on loopback only.
	env := append([]string{"DAPR_TRUST_ANCHORS=" + string(s.anchors), "NAMESPACE=default", "DAPR_HOST_IP=" + lo}, s.sidecarTokenEnv(name)...)
	for k, v := range s.componentEnv() {
		env = append(env, k+"="+v)
	}
	args := []string{
		"--app-id", app, "--app-port", strconv.Itoa(ap.App), "--app-protocol", "http", "--app-channel-address", lo,
		"--dapr-http-port", strconv.Itoa(ap.DaprHTTP), "--dapr-grpc-port", strconv.Itoa(ap.DaprGRPC),
		"--dapr-listen-addresses", lo,
		"--dapr-internal-grpc-port", strconv.Itoa(ap.DaprInternal), "--dapr-internal-grpc-listen-address", lo,
		"--metrics-port", strconv.Itoa(ap.DaprMetrics), "--metrics-listen-address", lo,
		"--resources-path", s.componentsDir(), "--config", s.configFile(app),
	}
	for _, r := range s.opts.ExtraResources {
		args = append(args, "--resources-path", r)
	}
	args = append(args,
		"--enable-mtls", "--sentry-address", fmt.Sprintf("%s:%d", lo, s.ports.SentryGRPC),
		"--placement-host-address", fmt.Sprintf("%s:%d", lo, s.ports.PlacementGRPC),
		"--scheduler-host-address", fmt.Sprintf("%s:%d", lo, s.ports.SchedulerGRPC),
		"--enable-app-health-check", "--app-health-check-path", "/healthz", "--app-health-probe-interval", "3",
		"--dapr-graceful-shutdown-seconds", "5", "--log-level", s.opts.LogLevel,
		// Staged and uploaded files travel as one binding message each.
		"--max-body-size", "160Mi",
	)
	if _, err := s.spawn(name+"-dapr", s.bin("daprd"), args, env); err != nil {
		return err
	}
	_, err := s.spawn(name, s.bin(app), nil, s.appEnv(name))
	return err
}

// appEnv is the environment of the app instance name (not its sidecar).
func (s *Stack) appEnv(name string) []string {
	ap := s.ports.App[name]
	env := []string{
		"APP_ID=" + AppIDOf(name), "APP_HOST=127.0.0.1", "APP_PORT=" + strconv.Itoa(ap.App),
		"DAPR_HTTP_PORT=" + strconv.Itoa(ap.DaprHTTP), "DAPR_GRPC_PORT=" + strconv.Itoa(ap.DaprGRPC),
		"LOG_FORMAT=console", "LOG_LEVEL=" + s.opts.LogLevel,
	}
	env = append(env, s.otlpEnv()...)
	env = append(env, s.controlPlaneEnv()...)
	env = append(env, s.opts.AppEnv...)
	// After AppEnv (the last of a name wins): each replica keeps its own
	// identity, which the services use for their leases.
	env = append(env, "SA_INSTANCE="+name)
	return append(env, s.appTokenEnv(name)...)
}

// otlpEnv points an app's exporter at OTLPEndpoint.
func (s *Stack) otlpEnv() []string {
	if s.opts.OTLPEndpoint == "" {
		return nil
	}
	return []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + s.opts.OTLPEndpoint, "OTEL_EXPORTER_OTLP_PROTOCOL=grpc", "OTLP_INSECURE=true"}
}

func (s *Stack) spawn(name, bin string, args, env []string) (*process, error) {
	p, err := startProcess(s.procSpec(name, bin, args, env), s.console, s.dir("logs"))
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p, nil
}

// NATSURL is the stack's NATS address (local profile).
func (s *Stack) NATSURL() string { return s.Layout.NATSURL() }

// DataDir is where the stack keeps everything it writes.
func (s *Stack) DataDir() string { return s.opts.DataDir }

// Pids lists every child process id by name.
func (s *Stack) Pids() map[string]int {
	m := map[string]int{}
	for _, p := range s.snapshot() {
		m[p.name] = p.Pid()
	}
	return m
}

func (s *Stack) snapshot() []*process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*process{}, s.procs...)
}

// Wait supervises the running stack until ctx ends (nil): a process that
// dies on its own is started again, like a container orchestrator would,
// after a short pause. One that dies more than Options.Restarts times in
// ten minutes ends the stack with an error naming it and its last lines.
func (s *Stack) Wait(ctx context.Context) error {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	restarts := map[string][]time.Time{}
	for {
		for i, p := range s.snapshot() {
			if !p.exited() {
				continue
			}
			recent := pruneBefore(restarts[p.name], time.Now().Add(-10*time.Minute))
			if len(recent) >= s.opts.Restarts {
				return fmt.Errorf("%s stopped unexpectedly %d times in 10 minutes (last: %v); it reported:\n%s\nlast lines:\n%s",
					p.name, len(recent)+1, p.err, indent(p.Reason()), indent(p.Tail(10)))
			}
			s.progress("%s stopped unexpectedly (%v); restarting it (%d of at most %d in 10 minutes)", p.name, p.err, len(recent)+1, s.opts.Restarts)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(restartPause):
			}
			np, err := startProcess(p.spec, s.console, s.dir("logs"))
			if err != nil {
				return fmt.Errorf("restart %s: %w", p.name, err)
			}
			s.mu.Lock()
			s.procs[i] = np
			s.mu.Unlock()
			restarts[p.name] = append(recent, time.Now())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// restartPause lets a killed sidecar's ports close before it comes back.
const restartPause = time.Second

func pruneBefore(ts []time.Time, cutoff time.Time) []time.Time {
	var out []time.Time
	for _, t := range ts {
		if t.After(cutoff) {
			out = append(out, t)
		}
	}
	return out
}

// ackWait is the JetStream ackWait value for the components.
type ackWait time.Duration

func (a ackWait) String() string { return time.Duration(a).String() }

// Stop ends every process in reverse start order: each app before its
// sidecar, sidecars before the control plane, the broker last.
func (s *Stack) Stop() error {
	var errs []error
	procs := s.snapshot()
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		grace := 10 * time.Second
		if !strings.HasSuffix(p.name, "-dapr") && isApp(p.name) {
			grace = 15 * time.Second
		}
		s.progress("stopping %s", p.name)
		if err := p.stop(grace); err != nil {
			errs = append(errs, err)
		}
	}
	// Nothing runs any more: the scheduler's key goes, and the data dir is free.
	if err := s.removeSchedulerIdentities(); err != nil {
		errs = append(errs, err)
	}
	s.lock.release()
	return errors.Join(errs...)
}

func isApp(name string) bool {
	for _, a := range Apps {
		if a == AppIDOf(name) {
			return true
		}
	}
	return false
}

func (s *Stack) progress(format string, args ...any) {
	if s.opts.Progress != nil {
		fmt.Fprintf(s.opts.Progress, "==> "+format+"\n", args...)
	}
}

// failIfExited returns the first child that has died, with its last lines.
func (s *Stack) failIfExited() error {
	for _, p := range s.snapshot() {
		if p.exited() {
			return p.exitError()
		}
	}
	return nil
}

// poll runs check every 250ms until it succeeds, a child dies, or ctx ends.
func (s *Stack) poll(ctx context.Context, what string, check func(context.Context) error) error {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		if err := s.failIfExited(); err != nil {
			return err
		}
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready within %s: %v", what, s.opts.StartTimeout, err)
		case <-t.C:
		}
	}
}

func (s *Stack) waitTCP(ctx context.Context, name string, port int) error {
	return s.poll(ctx, name, func(ctx context.Context) error {
		d := net.Dialer{Timeout: time.Second}
		c, err := d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return err
		}
		return c.Close()
	})
}

func (s *Stack) waitHTTP(ctx context.Context, name, url string) error {
	return s.poll(ctx, name, func(ctx context.Context) error { return s.httpOK(ctx, url) })
}

func (s *Stack) httpOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		if b := strings.Join(strings.Fields(string(body)), " "); b != "" {
			return fmt.Errorf("%s answered %s: %s", url, resp.Status, b)
		}
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}

// AppHealth is what waitReady saw for one app.
type AppHealth struct {
	App            string
	Components     []string
	RuntimeVersion string
}

// Health checks one app and its sidecar: the sidecar healthy (which in Dapr
// includes its app being healthy), every expected component loaded, the
// app connection known, and the app's own readiness.
func (s *Stack) Health(ctx context.Context, app string) (AppHealth, error) {
	h := AppHealth{App: app}
	if err := s.httpOK(ctx, s.SidecarURL(app)+"/v1.0/healthz"); err != nil {
		return h, fmt.Errorf("sidecar: %w", err)
	}
	md, err := daprclient.FetchMetadata(ctx, s.http, s.SidecarURL(app), s.SidecarToken(app))
	if err != nil {
		return h, err
	}
	if md.ID != AppIDOf(app) {
		return h, fmt.Errorf("sidecar reports app id %q, want %q", md.ID, AppIDOf(app))
	}
	loaded := map[string]bool{}
	for _, c := range md.Components {
		loaded[c.Name] = true
		h.Components = append(h.Components, c.Name)
	}
	for _, c := range s.ComponentsFor(AppIDOf(app)) {
		if !loaded[c.Name] {
			return h, fmt.Errorf("sidecar has not loaded component %s (%s, %s)", c.Name, c.Type, c.File)
		}
	}
	if md.AppConnection == nil || md.AppConnection.Port != s.ports.App[app].App {
		return h, fmt.Errorf("sidecar does not see its app on port %d yet", s.ports.App[app].App)
	}
	if err := s.httpOK(ctx, s.AppURL(app)+"/readyz"); err != nil {
		return h, fmt.Errorf("app: %w", err)
	}
	h.RuntimeVersion = md.RuntimeVersion
	return h, nil
}

func (s *Stack) waitReady(ctx context.Context) error {
	pending := map[string]error{}
	for _, a := range s.Instances() {
		pending[a] = errors.New("not checked yet")
	}
	lastReport := time.Now()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for len(pending) > 0 {
		if err := s.failIfExited(); err != nil {
			return err
		}
		for a := range pending {
			if _, err := s.Health(ctx, a); err != nil {
				pending[a] = err
				continue
			}
			delete(pending, a)
			s.progress("%s and its sidecar are healthy", a)
		}
		if len(pending) == 0 {
			return nil
		}
		if time.Since(lastReport) > 10*time.Second {
			for a, err := range pending {
				s.progress("still waiting for %s: %v", a, err)
			}
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			// The app's and its sidecar's last lines go into the error: a
			// test's data dir, and with it the logs, is gone by the time
			// anyone reads it.
			procs := map[string]*process{}
			for _, p := range s.snapshot() {
				procs[p.name] = p
			}
			var lines []string
			quoted := map[string]bool{}
			for a, err := range pending {
				lines = append(lines, fmt.Sprintf("%s: %v (log: %s)", a, err, s.dir("logs", a+"-dapr.log")))
				for _, name := range []string{a, a + "-dapr"} {
					if p := procs[name]; p != nil {
						quoted[name] = true
						if t := p.Tail(6); t != "" {
							lines = append(lines, name+":\n"+indent(t))
						}
					}
				}
			}
			// The cause may sit in a process that is itself up (a sidecar
			// the pending apps cannot reach): every other process's last
			// error lines go in too.
			for _, p := range s.snapshot() {
				if r := p.Reason(); r != "" && !quoted[p.name] {
					lines = append(lines, p.name+" (its last error lines):\n"+indent(r))
				}
			}
			return fmt.Errorf("stack not healthy within %s:\n  %s", s.opts.StartTimeout, strings.Join(lines, "\n  "))
		case <-t.C:
		}
	}
	return nil
}
