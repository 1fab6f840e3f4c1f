// Package httpserver builds the Fiber server every service exposes: probes,
// metrics, request ids, tracing, panic recovery and one error handler.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/logging"
)

// Check is one named readiness condition; a nil error means ready.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Options configures a Server. Logger, Registry, Tracer and Propagator are
// optional; nil values fall back to no-ops so tests stay short.
type Options struct {
	Name            string // service name, used in logs and span names
	Addr            string // host:port to listen on
	ShutdownTimeout time.Duration
	ReadyChecks     []Check
	Logger          *zap.Logger
	Registry        *prometheus.Registry
	TracerProvider  trace.TracerProvider
	Propagator      propagation.TextMapPropagator
	// Auth is who may call which route (zero: anyone, for tests).
	Auth Auth
}

// Server is a Fiber app with the shared middleware and probe routes.
type Server struct {
	mu   sync.Mutex
	app  *fiber.App
	opts Options
	log  *zap.Logger
	// inflight counts requests being handled, so shutdown waits for them
	// and not for idle connections.
	inflight atomic.Int64
}

// New builds the server. Routes are added through App() before Serve.
func New(opts Options) (*Server, error) {
	if opts.Addr == "" {
		return nil, errors.New("httpserver: listen address is empty")
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.TracerProvider == nil {
		opts.TracerProvider = noop.NewTracerProvider()
	}
	if opts.Propagator == nil {
		opts.Propagator = propagation.TraceContext{}
	}
	s := &Server{opts: opts, log: opts.Logger}
	s.app = fiber.New(fiber.Config{
		AppName:               opts.Name,
		DisableStartupMessage: true,
		ErrorHandler:          s.handleError,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          60 * time.Second,
		IdleTimeout:           120 * time.Second,
		BodyLimit:             16 << 20,
		// Strings from the request (path parameters, headers) are copies:
		// handlers keep job ids in maps, locks and loggers past the request,
		// and fasthttp reuses the memory they would otherwise alias.
		Immutable: true,
	})
	s.app.Use(func(c *fiber.Ctx) error {
		s.inflight.Add(1)
		defer s.inflight.Add(-1)
		return c.Next()
	})
	s.app.Use(recover.New(recover.Config{
		EnableStackTrace: true,
		StackTraceHandler: func(c *fiber.Ctx, e any) {
			logging.WithTrace(c.UserContext(), s.log).Error("panic while handling request", zap.Any("panic", e),
				zap.String("path", c.Path()), zap.String("request_id", requestID(c)), zap.Stack("stack"))
		},
	}))
	s.app.Use(requestid.New())
	// Before anything routes or authorises on the path (GO-2026-5242).
	s.app.Use(canonicalPath)
	s.app.Use(tracing(opts.TracerProvider.Tracer("github.com/secure-agent/secure-agent/libs/httpserver"), opts.Propagator))
	if opts.Registry != nil {
		m, err := newMetrics(opts.Registry)
		if err != nil {
			return nil, err
		}
		s.app.Use(m.middleware)
	}
	// After metrics, so refused requests are counted too.
	s.app.Use(opts.Auth.middleware)
	if opts.Registry != nil {
		s.app.Get("/metrics", metricsHandler(opts.Registry))
	}
	s.app.Get("/healthz", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"status": "ok", "service": opts.Name})
	})
	s.app.Get("/readyz", s.readyz)
	return s, nil
}

// AddReadyCheck adds a readiness condition; used once the dependency exists.
func (s *Server) AddReadyCheck(c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.ReadyChecks = append(s.opts.ReadyChecks, c)
}

// App exposes the Fiber app so a service's ports package can add routes.
func (s *Server) App() *fiber.App { return s.app }

// Listen binds the address now, so a port clash is reported at start-up
// rather than after the service claims to be running.
func (s *Server) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w (is another process using this port? move it with the service's *_PORT setting)", s.opts.Addr, err)
	}
	return ln, nil
}

// Serve serves on ln until ctx ends, then shuts down within ShutdownTimeout.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.app.Listener(ln) }()
	s.log.Info("http server listening", zap.String("addr", ln.Addr().String()))
	select {
	case err := <-errc:
		return fmt.Errorf("http server stopped: %w", err)
	case <-ctx.Done():
	}
	// fasthttp's shutdown also waits for connections the sidecar opened but
	// never sent a request on (until their read timeout). What must finish
	// is the requests in flight: once there are none, the remaining idle
	// connections close with the process.
	done := make(chan error, 1)
	go func() { done <- s.app.ShutdownWithTimeout(s.opts.ShutdownTimeout) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("http server shutdown within %s: %w", s.opts.ShutdownTimeout, err)
			}
			if err != nil {
				s.log.Warn("requests still running after the shutdown timeout were cut", zap.Duration("shutdown_timeout", s.opts.ShutdownTimeout))
			}
			return nil
		case <-tick.C:
			if s.inflight.Load() == 0 {
				return nil
			}
		}
	}
}

func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 3*time.Second)
	defer cancel()
	s.mu.Lock()
	checks := append([]Check(nil), s.opts.ReadyChecks...)
	s.mu.Unlock()
	results := fiber.Map{}
	ready := true
	for _, ch := range checks {
		if err := ch.Fn(ctx); err != nil {
			ready = false
			results[ch.Name] = err.Error()
			continue
		}
		results[ch.Name] = "ok"
	}
	if !ready {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "not ready", "checks": results})
	}
	return c.JSON(fiber.Map{"status": "ready", "checks": results})
}

func requestID(c *fiber.Ctx) string {
	if v, ok := c.Locals("requestid").(string); ok {
		return v
	}
	return ""
}
