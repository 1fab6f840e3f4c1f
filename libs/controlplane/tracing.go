package controlplane

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

const tracerName = "github.com/secure-agent/secure-agent/libs/controlplane"

// Span attributes beside the HTTP semantic conventions. A span never holds
// the token, the client secret, a query string or a lease id: the path is
// its template (url.template), the host and port its server.
const (
	attrOperation = attribute.Key("secure_agent.controlplane.operation")
	attrJobID     = attribute.Key("secure_agent.job.id")
)

// endpoint is where a span says requests go.
type endpoint struct {
	host string
	port int
	path string // escaped path prefix of url.template, without a trailing slash
}

func endpointOf(u *url.URL) endpoint {
	e := endpoint{host: u.Hostname(), port: 443, path: u.EscapedPath()}
	if p, err := strconv.Atoi(u.Port()); err == nil {
		e.port = p
	}
	return e
}

// startSpan starts a client span for method on e's path plus template.
func startSpan(ctx context.Context, tracer trace.Tracer, e endpoint, method, template, op string, extra ...attribute.KeyValue) (context.Context, trace.Span) {
	tmpl := e.path + template
	attrs := append([]attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(method),
		semconv.ServerAddress(e.host),
		semconv.ServerPort(e.port),
		semconv.URLTemplate(tmpl),
		attrOperation.String(op),
	}, extra...)
	return tracer.Start(ctx, method+" "+tmpl, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// endSpan records the last answer's status (0: none arrived), how often the
// request was sent again and, for a failure, its error type and message.
// The messages are the client's errors, which never hold a token or a
// secret (TestSecretNeverLeaks).
func endSpan(span trace.Span, status, resends int, err error) {
	if status > 0 {
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	}
	if resends > 0 {
		span.SetAttributes(semconv.HTTPRequestResendCount(resends))
	}
	if err != nil {
		errType := errkind.Of(err).String()
		if status >= 400 {
			errType = strconv.Itoa(status)
		}
		span.SetAttributes(semconv.ErrorTypeKey.String(errType))
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// retryEvent marks a repeated request on the call's span.
func retryEvent(span trace.Span, reason string, attempt int, wait time.Duration) {
	span.AddEvent("retry", trace.WithAttributes(
		attribute.String("secure_agent.controlplane.retry_reason", reason),
		attribute.Int("secure_agent.controlplane.attempt", attempt),
		attribute.Float64("secure_agent.controlplane.wait_seconds", wait.Seconds())))
}
