// Package daprclient wraps the Dapr go-sdk: it waits for the sidecar, dials
// it with trace propagation, and answers the readiness question for the app.
package daprclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// MaxMessageBytes bounds one gRPC message to or from the sidecar. Sidecars
// must run with --max-body-size at least this large (the local stack does).
const MaxMessageBytes = 128 << 20

// Options says where the sidecar is and how long to wait for it.
type Options struct {
	AppID          string
	Host           string // default 127.0.0.1: the sidecar always runs beside the app
	HTTPPort       int
	GRPCPort       int
	APIToken       string // optional dapr-api-token; never logged
	WaitTimeout    time.Duration
	Logger         *zap.Logger
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
}

// Sidecar is a connected Dapr sidecar.
type Sidecar struct {
	client dapr.Client
	http   *http.Client
	// invokeHTTP has no timeout of its own: InvokeJSON's context bounds it.
	invokeHTTP *http.Client
	base       string
	token      string
	appID      string
	timeout    time.Duration
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
}

// Connect waits until the sidecar reports its outbound side healthy
// (components loaded) and then dials its gRPC API. It never waits longer than
// WaitTimeout and says which sidecar it waited for when it gives up.
func Connect(ctx context.Context, opts Options) (*Sidecar, error) {
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.WaitTimeout <= 0 {
		opts.WaitTimeout = 60 * time.Second
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
	s := &Sidecar{
		http:       &http.Client{Timeout: 5 * time.Second},
		invokeHTTP: &http.Client{},
		base:       "http://" + net.JoinHostPort(opts.Host, strconv.Itoa(opts.HTTPPort)),
		token:      opts.APIToken,
		appID:      opts.AppID,
		timeout:    opts.WaitTimeout,
		tracer:     opts.TracerProvider.Tracer("github.com/secure-agent/secure-agent/libs/daprclient"),
		propagator: opts.Propagator,
	}
	if err := s.wait(ctx, opts.Logger); err != nil {
		return nil, err
	}
	if err := s.checkToken(ctx); err != nil {
		return nil, err
	}
	dialOpts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()), // loopback to our own sidecar
		// Staged and uploaded files travel through output bindings as one
		// message each; the sidecar's --max-body-size is the real bound.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(
			otelgrpc.WithTracerProvider(opts.TracerProvider),
			otelgrpc.WithPropagators(opts.Propagator))),
	}
	if opts.APIToken != "" {
		dialOpts = append(dialOpts, tokenInterceptors(opts.APIToken)...)
	}
	conn, err := grpc.NewClient(net.JoinHostPort(opts.Host, strconv.Itoa(opts.GRPCPort)), dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("dial dapr sidecar gRPC on port %d: %w", opts.GRPCPort, err)
	}
	s.client = dapr.NewClientWithConnection(conn)
	return s, nil
}

// checkToken fails start-up at once when the sidecar refuses this app's
// API token: the health endpoint Connect waits on needs no token, so
// without this check every later call would fail instead.
func (s *Sidecar) checkToken(ctx context.Context) error {
	_, err := s.Metadata(ctx)
	if !errors.Is(err, ErrUnauthorized) {
		return nil // anything else shows in readiness and the calls themselves
	}
	if s.token == "" {
		return fmt.Errorf("dapr sidecar for app %q at %s requires an API token: set DAPR_API_TOKEN to the token its daprd "+
			"was started with (the local launcher sets it for every app)", s.appID, s.base)
	}
	return fmt.Errorf("dapr sidecar for app %q at %s refused DAPR_API_TOKEN: set it to the token its daprd was started with "+
		"(daprd's own DAPR_API_TOKEN)", s.appID, s.base)
}

func (s *Sidecar) wait(ctx context.Context, log *zap.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lastLog := time.Now()
	for {
		err := s.Healthy(ctx)
		if err == nil {
			return nil
		}
		if time.Since(lastLog) > 5*time.Second {
			log.Info("waiting for dapr sidecar", zap.String("sidecar", s.base), zap.Error(err))
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("dapr sidecar for app %q at %s not ready after %s: %w; "+
					"start daprd with --app-id %s and --dapr-http-port matching DAPR_HTTP_PORT, and check its log for component errors",
					s.appID, s.base, s.timeout, err, s.appID)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Healthy reports whether the sidecar's outbound side is up. It deliberately
// uses /healthz/outbound: /healthz waits for the app, and the app's own
// readiness waits for this, which would deadlock.
func (s *Sidecar) Healthy(ctx context.Context) error {
	resp, err := s.get(ctx, "/v1.0/healthz/outbound")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("dapr sidecar outbound health answered %s", resp.Status)
	}
	return nil
}

// Metadata is the subset of /v1.0/metadata the agent looks at.
type Metadata struct {
	ID                 string          `json:"id"`
	RuntimeVersion     string          `json:"runtimeVersion"`
	Components         []Component     `json:"components"`
	Subscriptions      []Subscription  `json:"subscriptions"`
	AppConnection      *AppConnection  `json:"appConnectionProperties"`
	ActorRuntime       *ActorRuntime   `json:"actorRuntime"`
	EnabledFeatures    []string        `json:"enabledFeatures"`
	Extended           json.RawMessage `json:"extended"`
	PlacementConnected bool            `json:"-"`
}

type Component struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Version string `json:"version"`
}

type Subscription struct {
	PubsubName string `json:"pubsubname"`
	Topic      string `json:"topic"`
}

type AppConnection struct {
	Port     int    `json:"port"`
	Protocol string `json:"protocol"`
	Health   *struct {
		HealthStatus string `json:"appHealthStatus"`
	} `json:"health"`
}

type ActorRuntime struct {
	RuntimeStatus string `json:"runtimeStatus"`
	Placement     string `json:"placement"`
}

// Metadata reads the sidecar's metadata endpoint.
func (s *Sidecar) Metadata(ctx context.Context) (*Metadata, error) {
	return FetchMetadata(ctx, s.http, s.base, s.token)
}

// FetchMetadata reads /v1.0/metadata from any sidecar's HTTP base URL; the
// health service and the local launcher use it for sidecars they do not own.
func FetchMetadata(ctx context.Context, hc *http.Client, base, token string) (*Metadata, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1.0/metadata", nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set(APITokenHeader, token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read dapr metadata from %s: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return nil, fmt.Errorf("read dapr metadata from %s: %w", base, ErrUnauthorized)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read dapr metadata from %s: %s", base, resp.Status)
	}
	var md Metadata
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
		return nil, fmt.Errorf("decode dapr metadata from %s: %w", base, err)
	}
	md.PlacementConnected = md.ActorRuntime != nil && md.ActorRuntime.Placement == "placement: connected"
	return &md, nil
}

// Client is the go-sdk client; only adapters use it.
func (s *Sidecar) Client() dapr.Client { return s.client }

// Close releases the gRPC connection.
func (s *Sidecar) Close() {
	if s.client != nil {
		s.client.Close()
	}
}

func (s *Sidecar) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+path, nil)
	if err != nil {
		return nil, err
	}
	if s.token != "" {
		req.Header.Set(APITokenHeader, s.token)
	}
	return s.http.Do(req)
}

// InvokeResult is what an invoked app answered.
type InvokeResult struct {
	Status int
	Body   []byte
}

// InvokeJSON calls method on appID through the sidecar with in as a JSON
// body (nil: none) and decodes a 2xx answer into out (nil: ignored). A
// non-2xx answer becomes an error of the matching errkind carrying the
// callee's message, so callers can tell "invalid" from "try again".
//
// A call that certainly never reached the callee's app — its sidecar could
// not connect to the app (a replica restarting) or the callee's sidecar
// was down — is sent again, with back-off, for up to unreachedRetry (or
// until ctx ends): the name resolution picks an instance each time, so
// another replica answers. A call that may have reached the app is never
// repeated here.
func (s *Sidecar) InvokeJSON(ctx context.Context, appID, verb, method string, in, out any) (err error) {
	ctx, span := s.startInvoke(ctx, appID, verb, method)
	defer func() { endInvoke(span, err) }()
	var payload []byte
	if in != nil {
		if payload, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode request for %s %s on %s: %w", verb, method, appID, err)
		}
	}
	giveUp := time.Now().Add(unreachedRetry)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		err = s.invokeJSONOnce(ctx, appID, verb, method, payload, in != nil, out)
		if err == nil || !unreached(err) || time.Now().Add(wait).After(giveUp) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// unreachedRetry bounds how long InvokeJSON repeats a call that never
// reached the callee's app.
const unreachedRetry = 15 * time.Second

// unreached reports a call that never reached the callee's app: the
// callee's sidecar could not connect to its app, or the caller's sidecar
// could not connect to the callee's sidecar.
func unreached(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "connect: connection refused") &&
		(strings.Contains(msg, "error invoking app channel") || strings.Contains(msg, "code = Unavailable"))
}

func (s *Sidecar) invokeJSONOnce(ctx context.Context, appID, verb, method string, payload []byte, hasBody bool, out any) error {
	var body io.Reader
	if hasBody {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, verb, s.base+"/v1.0/invoke/"+appID+"/method/"+strings.TrimPrefix(method, "/"), body)
	if err != nil {
		return err
	}
	if hasBody {
		req.Header.Set("Content-Type", "application/json")
	}
	s.propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))
	if s.token != "" {
		req.Header.Set(APITokenHeader, s.token)
	}
	// Invocations may run long (a preflight against a slow server); the
	// caller's context bounds them, not the short health-check client.
	resp, err := s.invokeHTTP.Do(req)
	if err != nil {
		return errkind.Wrap(errkind.Transient, err, fmt.Sprintf("invoke %s %s on %s", verb, method, appID))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return errkind.Wrap(errkind.Transient, err, fmt.Sprintf("read answer of %s %s on %s", verb, method, appID))
	}
	if resp.StatusCode/100 != 2 {
		msg := strings.TrimSpace(string(data))
		var e struct { // httpserver.ErrorBody, or daprd's own {errorCode, message}
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &e) == nil && (e.Error.Message != "" || e.Message != "") {
			msg = strings.TrimSpace(e.Error.Message + " " + e.Message)
		}
		if len(msg) > 2000 {
			msg = msg[:2000] + "…"
		}
		return errkind.New(errkind.FromHTTPStatus(resp.StatusCode),
			fmt.Sprintf("%s %s on %s answered %d: %s", verb, method, appID, resp.StatusCode, msg))
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decode answer of %s %s on %s: %w", verb, method, appID, err)
		}
	}
	return nil
}

// Invoke calls method on appID through this sidecar's HTTP API, so the
// answer's status (including a 403 from an access-control policy) is kept.
func (s *Sidecar) Invoke(ctx context.Context, appID, verb, method string) (_ *InvokeResult, err error) {
	ctx, span := s.startInvoke(ctx, appID, verb, method)
	defer func() { endInvoke(span, err) }()
	req, err := http.NewRequestWithContext(ctx, verb, s.base+"/v1.0/invoke/"+appID+"/method/"+strings.TrimPrefix(method, "/"), nil)
	if err != nil {
		return nil, err
	}
	s.propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))
	if s.token != "" {
		req.Header.Set(APITokenHeader, s.token)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke %s %s on %s: %w", verb, method, appID, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read answer of %s %s on %s: %w", verb, method, appID, err)
	}
	return &InvokeResult{Status: resp.StatusCode, Body: body}, nil
}

// startInvoke starts the client span of a service invocation; its context
// goes to the sidecar as traceparent, which daprd continues to the callee.
// The Dapr HTTP API is called directly here, so nothing else carries it
// (dapr/go-sdk#355).
func (s *Sidecar) startInvoke(ctx context.Context, appID, verb, method string) (context.Context, trace.Span) {
	method = "/" + strings.TrimPrefix(method, "/")
	return s.tracer.Start(ctx, "invoke "+appID+" "+verb+" "+method, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(semconv.RPCSystemNameKey.String("dapr"), semconv.RPCMethod(verb+" "+method),
			attribute.String("dapr.app_id", appID), semconv.HTTPRequestMethodKey.String(verb)))
}

func endInvoke(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, "invocation failed")
		span.SetAttributes(semconv.ErrorTypeKey.String(errkind.Of(err).String()))
	}
	span.End()
}
