// Package bootstrap is the start-up sequence every service shares:
// config → logging → telemetry → Dapr sidecar → HTTP server → graceful
// shutdown. A service supplies its own settings and wiring; main() only
// calls Run.
package bootstrap

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/config"
	"github.com/secure-agent/secure-agent/libs/daprclient"
	"github.com/secure-agent/secure-agent/libs/gctune"
	"github.com/secure-agent/secure-agent/libs/httpserver"
	"github.com/secure-agent/secure-agent/libs/logging"
	"github.com/secure-agent/secure-agent/libs/logship"
	"github.com/secure-agent/secure-agent/libs/probe"
	"github.com/secure-agent/secure-agent/libs/pubsub"
	"github.com/secure-agent/secure-agent/libs/telemetry"
)

// Version is stamped at build time with -ldflags; "dev" otherwise.
var Version = "dev"

// Common are the settings every service has. Names follow what the Dapr CLI
// hands an app (APP_ID, APP_PORT, DAPR_HTTP_PORT, DAPR_GRPC_PORT) so
// `dapr run` needs no translation.
type Common struct {
	AppID string
	// Instance names this replica among the app's replicas (the pod name,
	// SA_INSTANCE); the leases a replica holds carry it.
	Instance     string
	AppHost      string
	AppPort      int
	DaprHTTPPort int
	DaprGRPCPort int
	DaprAPIToken string
	// AppAPIToken is what the sidecar sends with every request to the app
	// (daprd's APP_API_TOKEN); ClientAPIToken is the bearer token of the
	// service's client routes (Spec.ClientRoutes).
	AppAPIToken      string
	ClientAPIToken   string
	DaprWaitTimeout  time.Duration
	LogLevel         string
	LogFormat        string
	OTLPEndpoint     string
	OTLPProtocol     string
	OTLPInsecure     bool
	TraceSampleRatio float64
	// MetricsAddr, when set, serves /metrics (only) on its own listener
	// for scrapers outside the pod; /metrics stays on the app port too.
	MetricsAddr     string
	ShutdownTimeout time.Duration
	PubSubName      string
	// ShipJobLogs publishes the lines logged with a job_id on the job-logs
	// topic, bounded by JobLogBufferLines and JobLogBufferBytes.
	ShipJobLogs       bool
	JobLogBufferLines int
	JobLogBufferBytes int
	// CABundle is SSL_CERT_FILE, the CA certificates Go's crypto/x509 reads
	// for outbound TLS; the images set it, and a service refuses to start
	// when it names a missing or empty bundle.
	CABundle string
	// Audit says where the app records what it does (ADR 0014).
	Audit AuditSettings
	// described is every setting's effective value, secrets masked, for
	// the audit log's process.started entry.
	described map[string]string
}

// Deps is what wiring receives: everything injected, nothing global.
type Deps struct {
	Common         Common
	Logger         *zap.Logger
	Registry       *prometheus.Registry
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	Sidecar        *daprclient.Sidecar
	App            *fiber.App
	Router         *pubsub.Router
	Publisher      *pubsub.Publisher
	// AddReadyCheck adds a condition to the app's /readyz.
	AddReadyCheck func(httpserver.Check)
	// Secrets holds every secret value this process read; the loggers cut
	// them from every line. Register a value read some other way.
	Secrets *logging.Secrets
	// Audit records entries in the audit log before the actions they
	// describe take effect; an error means: do not go on (fail closed).
	Audit audit.Recorder
	// AuditWriter is set for the writer (Spec.AuditWriter): its wiring
	// opens the log and hands its local recorder to it.
	AuditWriter *audit.Deferred
	// SecretGetter reads the Dapr secret store: every read is recorded in
	// the audit log (with an HMAC of the value) before it is returned, and
	// registered in Secrets. Use it, not the sidecar client, for secrets.
	SecretGetter audit.SecretGetter
}

// Spec describes one service.
type Spec struct {
	Name           string
	DefaultAppPort int
	// AnswerProbes makes the app answer health's broker round-trip probes.
	AnswerProbes bool
	// KeepsJobLogs turns SHIP_JOB_LOGS off for the service that uploads job
	// logs (health): shipping its own upload warnings would feed them back.
	KeepsJobLogs bool
	// AuditWriter marks the service that writes the audit log (health):
	// its own entries go to the log it opens, not through invocation.
	AuditWriter bool
	// GCPercent, when set, is the GOGC the service runs with unless the
	// environment sets GOGC (libs/gctune: services that encode Arrow).
	GCPercent int
	// ClientRoutes are path prefixes that clients other than the sidecar
	// call directly (the orchestrator's job API for agentctl): besides the
	// sidecar, they serve a request with CLIENT_API_TOKEN as bearer token.
	ClientRoutes []string
	// Settings registers the service's own settings on the loader and returns
	// a func run after Load for cross-field checks (may be nil).
	Settings func(l *config.Loader) func(l *config.Loader)
	// Wire adds routes and starts background work. Background goroutines must
	// stop when ctx ends; the returned func (may be nil) runs after the HTTP
	// server has stopped, for flushing.
	Wire func(ctx context.Context, d Deps) (func(context.Context) error, error)
}

// Run starts the service and blocks until ctx ends (a signal) or it fails.
func Run(ctx context.Context, spec Spec, args []string, env config.LookupEnv) error {
	c, err := loadConfig(spec, args, env)
	if err != nil {
		return err
	}
	secrets := logging.NewSecrets()
	log, err := logging.New(logging.Options{Service: spec.Name, Level: c.LogLevel, Format: c.LogFormat, Secrets: secrets})
	if err != nil {
		return fmt.Errorf("%s: logging: %w", spec.Name, err)
	}
	defer func() { _ = log.Sync() }()
	log = log.With(zap.String("app_id", c.AppID), zap.String("instance", c.Instance), zap.String("version", Version))
	if spec.GCPercent > 0 {
		log.Debug("garbage collector", zap.String("target", gctune.Apply(gctune.LookupEnv(env), spec.GCPercent)))
	}

	tel, shutdownTel, err := telemetry.Setup(ctx, telemetry.Options{
		Service: spec.Name, Version: Version, OTLPEndpoint: c.OTLPEndpoint,
		OTLPProtocol: c.OTLPProtocol, OTLPInsecure: c.OTLPInsecure, SampleRatio: c.TraceSampleRatio,
	})
	if err != nil {
		return fmt.Errorf("%s: telemetry: %w", spec.Name, err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
		defer cancel()
		if err := shutdownTel(sctx); err != nil {
			log.Warn("telemetry shutdown", zap.Error(err))
		}
	}()

	if c.MetricsAddr != "" {
		ml, err := listenMetrics(c.MetricsAddr, tel.Registry, log)
		if err != nil {
			return fmt.Errorf("%s: %w", spec.Name, err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
			defer cancel()
			_ = ml.close(sctx)
		}()
	}

	warnOpenAPI(log, spec, c)
	if !isLoopback(c.AppHost) {
		log.Warn("app listens on a non-loopback address; only its sidecar needs to reach it", zap.String("app_host", c.AppHost))
	}

	// Bind the port before waiting for the sidecar: daprd probes the app
	// port while it starts, and a port clash should fail at once.
	srv, err := httpserver.New(httpserver.Options{
		Name: spec.Name, Addr: net.JoinHostPort(c.AppHost, strconv.Itoa(c.AppPort)),
		ShutdownTimeout: c.ShutdownTimeout, Logger: log, Registry: tel.Registry,
		TracerProvider: tel.TracerProvider, Propagator: tel.Propagator,
		Auth: httpserver.Auth{AppToken: c.AppAPIToken, ClientToken: c.ClientAPIToken, ClientRoutes: spec.ClientRoutes,
			ClientHint: clientTokenHint},
	})
	if err != nil {
		return fmt.Errorf("%s: http server: %w", spec.Name, err)
	}
	ln, err := srv.Listen()
	if err != nil {
		return fmt.Errorf("%s: %w", spec.Name, err)
	}
	defer ln.Close()

	log.Info("waiting for dapr sidecar", zap.Int("dapr_http_port", c.DaprHTTPPort), zap.Int("dapr_grpc_port", c.DaprGRPCPort))
	sidecar, err := daprclient.Connect(ctx, daprclient.Options{
		AppID: c.AppID, HTTPPort: c.DaprHTTPPort, GRPCPort: c.DaprGRPCPort, APIToken: c.DaprAPIToken,
		WaitTimeout: c.DaprWaitTimeout, Logger: log, TracerProvider: tel.TracerProvider, Propagator: tel.Propagator,
	})
	if err != nil {
		return fmt.Errorf("%s: %w", spec.Name, err)
	}
	defer sidecar.Close()
	srv.AddReadyCheck(httpserver.Check{Name: "dapr_sidecar", Fn: sidecar.Healthy})
	RegisterSidecarReport(srv.App(), c.AppID, sidecar, log)

	traced := pubsub.WithTracerProvider(tel.TracerProvider)
	router, err := pubsub.NewRouter(srv.App(), c.PubSubName, log, tel.Registry, traced)
	if err != nil {
		return fmt.Errorf("%s: %w", spec.Name, err)
	}
	publisher := pubsub.NewPublisher(sidecar.Client(), c.PubSubName, traced)
	if err := publisher.Register(tel.Registry); err != nil {
		return fmt.Errorf("%s: %w", spec.Name, err)
	}
	router.DeadLetterTo(c.AppID, publisher)
	if spec.AnswerProbes {
		probe.RegisterResponder(router, c.AppID, publisher, time.Now)
	}

	wireCtx, cancelWire := context.WithCancel(ctx)
	defer cancelWire()
	wireLog, ship, err := shipJobLogs(wireCtx, spec, c, log, publisher, tel.Registry, secrets)
	if err != nil {
		return fmt.Errorf("%s: %w", spec.Name, err)
	}
	rec, writer, getter, err := auditDeps(spec, c, sidecar, log, tel.Registry, secrets)
	if err != nil {
		return fmt.Errorf("%s: audit: %w", spec.Name, err)
	}
	var flush func(context.Context) error
	if spec.Wire != nil {
		flush, err = spec.Wire(wireCtx, Deps{
			Common: c, Logger: wireLog, Registry: tel.Registry, TracerProvider: tel.TracerProvider,
			Propagator: tel.Propagator, Sidecar: sidecar, App: srv.App(), Router: router, Publisher: publisher,
			AddReadyCheck: srv.AddReadyCheck, Secrets: secrets, Audit: rec, AuditWriter: writer, SecretGetter: getter,
		})
		if err != nil {
			return fmt.Errorf("%s: wiring: %w", spec.Name, err)
		}
	}
	if c.Audit.Mode != AuditOff {
		recordStart(wireCtx, spec, c, rec, sidecar, log, srv.AddReadyCheck)
	}
	log.Info("service started", zap.Int("app_port", c.AppPort))
	serveErr := srv.Serve(ctx, ln)
	cancelWire()
	fctx, cancelFlush := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancelFlush()
	if flush != nil {
		if err := flush(fctx); err != nil {
			log.Warn("flush on shutdown", zap.Error(err))
		}
	}
	// After the service's flush, which may still log for its jobs.
	if ship != nil {
		if err := ship.Flush(fctx); err != nil {
			log.Warn("shipping job logs on shutdown", zap.Error(err))
		}
	}
	if serveErr != nil {
		return fmt.Errorf("%s: %w", spec.Name, serveErr)
	}
	log.Info("service stopped")
	return nil
}

func loadConfig(spec Spec, args []string, env config.LookupEnv) (Common, error) {
	var c Common
	l := config.New(spec.Name)
	l.String(&c.AppID, "APP_ID", spec.Name, "Dapr app id of this service")
	l.String(&c.Instance, "SA_INSTANCE", defaultInstance(), "this replica's name, unique among the app's replicas (the chart sets the pod name; "+
		"the default is host name and process id); the leases a replica holds carry it")
	l.String(&c.AppHost, "APP_HOST", "127.0.0.1", "address the app's HTTP API listens on; keep it loopback, only the sidecar calls it")
	l.Port(&c.AppPort, "APP_PORT", spec.DefaultAppPort, "port of the app's HTTP API (the sidecar's --app-port)")
	l.Port(&c.DaprHTTPPort, "DAPR_HTTP_PORT", 3500, "HTTP port of this app's Dapr sidecar")
	l.Port(&c.DaprGRPCPort, "DAPR_GRPC_PORT", 50001, "gRPC port of this app's Dapr sidecar")
	l.String(&c.DaprAPIToken, "DAPR_API_TOKEN", "", "token the sidecar requires on its API, if any", config.Secret())
	l.String(&c.AppAPIToken, "APP_API_TOKEN", "", "token the sidecar sends with every request to this app (the same value as "+
		"daprd's APP_API_TOKEN); set, every request without it is refused except /healthz, /readyz and /metrics", config.Secret())
	if len(spec.ClientRoutes) > 0 {
		l.String(&c.ClientAPIToken, "CLIENT_API_TOKEN", "", "bearer token clients such as agentctl present on "+
			strings.Join(spec.ClientRoutes, ", ")+" (Authorization: Bearer <token>)", config.Secret())
	}
	l.Duration(&c.DaprWaitTimeout, "DAPR_WAIT_TIMEOUT", 60*time.Second, "how long to wait for the sidecar at start")
	l.Enum(&c.LogLevel, "LOG_LEVEL", "info", []string{"debug", "info", "warn", "error"}, "log level")
	l.Enum(&c.LogFormat, "LOG_FORMAT", "json", []string{"json", "console"}, "log format: json for production, console for a terminal")
	l.String(&c.OTLPEndpoint, "OTEL_EXPORTER_OTLP_ENDPOINT", "", "OTLP collector endpoint for traces; empty disables export")
	l.Enum(&c.OTLPProtocol, "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", []string{"grpc", "http/protobuf"}, "OTLP protocol")
	l.Bool(&c.OTLPInsecure, "OTLP_INSECURE", false, "send OTLP without TLS (a collector on the same host or pod)")
	var ratio string
	l.String(&ratio, "TRACE_SAMPLE_RATIO", "1", "fraction of new traces sampled, 0 to 1")
	l.String(&c.PubSubName, "PUBSUB_NAME", "pubsub", "name of the Dapr pub/sub component")
	l.HostPort(&c.MetricsAddr, "METRICS_ADDR", "", "host:port of a listener that serves only /metrics, for a Prometheus or "+
		"Datadog agent outside the pod (the app port listens on loopback); e.g. :9464. Empty: /metrics on the app port only")
	l.Duration(&c.ShutdownTimeout, "SHUTDOWN_TIMEOUT", 10*time.Second, "bound on graceful shutdown")
	l.Bool(&c.ShipJobLogs, "SHIP_JOB_LOGS", false, "publish the log lines of each job on the job-logs topic; "+
		"the health service uploads them to the control plane")
	l.Int(&c.JobLogBufferLines, "JOB_LOG_BUFFER_LINES", logship.DefaultMaxLines,
		"job log lines held between two publishes (SHIP_JOB_LOGS); more are dropped and counted")
	l.Int(&c.JobLogBufferBytes, "JOB_LOG_BUFFER_BYTES", logship.DefaultMaxBytes,
		"bytes of job log lines held between two publishes (SHIP_JOB_LOGS); more are dropped and counted")
	registerAudit(l, &c.Audit)
	l.String(&c.CABundle, "SSL_CERT_FILE", "", "CA bundle (PEM) for outbound TLS, as Go's crypto/x509 reads it; the images set "+
		"/etc/ssl/certs/ca-certificates.crt. Set, it must hold at least one certificate")
	var check func(*config.Loader)
	if spec.Settings != nil {
		check = spec.Settings(l)
	}
	l.SetOutput(os.Stderr)
	if err := l.Load(args, env); errors.Is(err, config.ErrHelp) {
		return c, ErrHelp
	}
	r, err := strconv.ParseFloat(ratio, 64)
	l.Check(err == nil && r >= 0 && r <= 1, "TRACE_SAMPLE_RATIO", fmt.Sprintf("invalid value %q: must be a number from 0 to 1", ratio))
	c.TraceSampleRatio = r
	l.Check(c.AppPort != c.DaprHTTPPort && c.AppPort != c.DaprGRPCPort, "APP_PORT", "must differ from DAPR_HTTP_PORT and DAPR_GRPC_PORT")
	l.Check(c.AppAPIToken == "" || len(c.AppAPIToken) >= minTokenLen, "APP_API_TOKEN", fmt.Sprintf("must be at least %d characters", minTokenLen))
	l.Check(c.ClientAPIToken == "" || len(c.ClientAPIToken) >= minTokenLen, "CLIENT_API_TOKEN", fmt.Sprintf("must be at least %d characters", minTokenLen))
	if c.CABundle != "" {
		n, err := countCertificates(c.CABundle)
		l.Check(err == nil && n > 0, "SSL_CERT_FILE", fmt.Sprintf("%s holds no usable CA certificate (%v): without it no outbound TLS "+
			"connection (control plane, object stores) can be verified; the image lacks its CA bundle, or mount one there", c.CABundle, errOrEmpty(err)))
	}
	l.Check(c.JobLogBufferLines >= 1, "JOB_LOG_BUFFER_LINES", "must be at least 1")
	l.Check(c.JobLogBufferBytes >= 64<<10, "JOB_LOG_BUFFER_BYTES", "must be at least 65536 (64 KiB)")
	checkAudit(l, c.Audit)
	if check != nil {
		check(l)
	}
	if err := l.Err(); err != nil {
		return c, err
	}
	c.described = l.Describe()
	return c, nil
}

// shipJobLogs tees log with a job-log capture core when SHIP_JOB_LOGS is
// on, and publishes what it captures until ctx ends; the caller flushes the
// returned shipper on shutdown. Off, it returns log and a nil shipper.
func shipJobLogs(ctx context.Context, spec Spec, c Common, log *zap.Logger, pub logship.Publisher,
	reg prometheus.Registerer, secrets *logging.Secrets) (*zap.Logger, *logship.Shipper, error) {
	if !c.ShipJobLogs {
		return log, nil, nil
	}
	if spec.KeepsJobLogs {
		log.Info("SHIP_JOB_LOGS ignored: this service uploads the job logs of the others")
		return log, nil, nil
	}
	ship, err := logship.New(logship.Options{
		Service: spec.Name, Level: zapcore.LevelOf(log.Core()),
		MaxLines: c.JobLogBufferLines, MaxBytes: c.JobLogBufferBytes,
		Logger: log, Registerer: reg, Secrets: secrets,
	}, pub)
	if err != nil {
		return nil, nil, fmt.Errorf("job log shipping: %w", err)
	}
	go ship.Run(ctx)
	return log.WithOptions(zap.WrapCore(ship.Tee)), ship, nil
}

// minTokenLen refuses a token short enough to be a typo or a guess; the
// local launcher generates 64 hex characters.
const minTokenLen = 16

// clientTokenHint ends a client route's 401.
const clientTokenHint = "the local stack keeps it in DATA_DIR/api-token (./data/api-token by default), where agentctl " +
	"reads it; or give agentctl --token-file FILE or SA_API_TOKEN; the service reads it from CLIENT_API_TOKEN"

// warnOpenAPI says at start which of the app's routes any local process
// may call because a token is not set.
func warnOpenAPI(log *zap.Logger, spec Spec, c Common) {
	if c.AppAPIToken == "" {
		log.Warn("APP_API_TOKEN is not set: any local process can call this app's API, not only its sidecar; " +
			"start daprd and the app with the same APP_API_TOKEN (the local launcher does)")
	}
	if len(spec.ClientRoutes) > 0 && c.ClientAPIToken == "" {
		if c.AppAPIToken == "" {
			log.Warn("CLIENT_API_TOKEN is not set either: anyone can call "+strings.Join(spec.ClientRoutes, ", "),
				zap.Strings("client_routes", spec.ClientRoutes))
		} else {
			log.Info("CLIENT_API_TOKEN is not set: only the sidecar may call these routes", zap.Strings("client_routes", spec.ClientRoutes))
		}
	}
	if len(spec.ClientRoutes) > 0 && c.ClientAPIToken != "" && c.AppAPIToken == "" {
		log.Warn("CLIENT_API_TOKEN without APP_API_TOKEN: calls through the sidecar to these routes are refused",
			zap.Strings("client_routes", spec.ClientRoutes))
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ErrHelp is returned when --help was asked for; main exits 0 on it.
var ErrHelp = errors.New("help requested")

// Main is a service's whole main(): it runs the service until SIGINT or
// SIGTERM and exits 1 with the error on stderr if it fails.
func Main(spec Spec) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, spec, os.Args[1:], os.LookupEnv)
	stop()
	if err != nil && !errors.Is(err, ErrHelp) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// countCertificates counts the PEM certificates in a CA bundle that parse.
func countCertificates(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return n, nil
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err == nil {
			n++
		}
	}
}

func errOrEmpty(err error) string {
	if err == nil {
		return "the file has no PEM certificate"
	}
	return err.Error()
}

// defaultInstance names a replica started without SA_INSTANCE: unique on
// its host, so two replicas there never take each other for themselves.
func defaultInstance() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "localhost"
	}
	return h + "-" + strconv.Itoa(os.Getpid())
}
