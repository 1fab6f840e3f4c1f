package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/logging"
)

const (
	maxErrorBody   = 64 << 10
	maxSuccessBody = 16 << 20
	maxRedirects   = 5
)

// Client calls the control plane. It is safe for concurrent use.
type Client struct {
	opts     Options
	base     *url.URL
	endpoint endpoint
	http     *http.Client
	tokens   *tokenSource
	server   serverLimit
	metrics  *metrics
	tracer   trace.Tracer
	log      *zap.Logger
}

// New validates opts and builds the client; it makes no connection.
func New(opts Options) (*Client, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	base, _ := url.Parse(strings.TrimSuffix(o.BaseURL, "/")) // validated above
	pins, _ := parsePins(o.PinnedSPKISHA256)                 // validated above
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	o.Secrets = countReads(o.Secrets, m.secretReads)
	tokenURL, _ := url.Parse(o.TokenURL) // validated above
	tracer := o.TracerProvider.Tracer(tracerName)

	var proxy *url.URL
	if o.ProxyURL != "" {
		proxy, _ = url.Parse(o.ProxyURL) // validated above
	}
	g := &guard{hosts: newAllowlist(o.AllowedHosts), refused: func(ctx context.Context, host string) {
		m.refused.Inc()
		// The request is refused either way; the entry is best effort.
		if err := o.Audit.Record(ctx, audit.Entry{Action: audit.ActionEgressRefused, Actor: o.AuditApp, App: o.AuditApp,
			Target: host, Outcome: audit.OutcomeDenied}); err != nil {
			o.Logger.Warn("the audit log did not record a refused egress", zap.String("host", host), zap.Error(err))
		}
	}}
	// Proxy stays nil unless configured: the environment's proxy is never used.
	transport := &http.Transport{
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        16,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	if proxy != nil {
		transport.Proxy = http.ProxyURL(proxy)
		g.proxyHost = proxy.Hostname()
	}
	transport.DialContext = g.dialContext(&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second})
	transport.TLSClientConfig = tlsConfig(o.RootCAs, pins, g.proxyHost)

	limit, burst := rate.Inf, 1
	if o.RateLimit.PerSecond > 0 {
		limit, burst = rate.Limit(o.RateLimit.PerSecond), o.RateLimit.Burst
	}
	hc := &http.Client{
		Transport: &guardedTransport{base: transport, guard: g, limiter: rate.NewLimiter(limit, burst)},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			return nil // the guarded transport checks the new host
		},
	}
	log := o.Logger.Named("controlplane")
	return &Client{
		opts:     o,
		base:     base,
		endpoint: endpointOf(base),
		http:     hc,
		tokens: &tokenSource{opts: o, http: hc, metrics: m, log: log,
			tracer: tracer, endpoint: endpointOf(&url.URL{Scheme: tokenURL.Scheme, Host: tokenURL.Host})},
		metrics: m,
		tracer:  tracer,
		log:     log,
	}, nil
}

// call is one API operation; body is a byte slice so every retry can send it again.
type call struct {
	op     string
	method string
	path   string
	// template is path with its ids as {placeholders}: the span's
	// url.template, so no id or secret lands in a span name.
	template    string
	query       url.Values
	header      http.Header
	body        []byte
	contentType string
	extraTime   time.Duration // added to the attempt timeout (long poll)
	jobID       string        // on every log line and the span of a job's call
	// absentOK: a 404 answers the question (hasFile), so its span is no
	// failure; the caller still gets the NotFound error to read.
	absentOK bool
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends c with a bearer token, refreshing the token once after a 401 and
// retrying 429, 502-504 and connection failures with backoff. It returns the
// answer for statuses below 400 and a kinded error otherwise.
//
// The call is one client span (retries are events on it, and its resend
// count) and one observation of the request duration, retries included.
func (cl *Client) do(ctx context.Context, c call) (_ *response, err error) {
	var extra []attribute.KeyValue
	fields := []zap.Field{zap.String("operation", c.op)}
	if c.jobID != "" {
		extra = append(extra, attrJobID.String(c.jobID))
		fields = append(fields, zap.String("job_id", c.jobID))
	}
	ctx, span := startSpan(ctx, cl.tracer, cl.endpoint, c.method, c.template, c.op, extra...)
	start := time.Now()
	status, sent := 0, 0
	defer func() {
		cl.metrics.duration.WithLabelValues(c.op).Observe(time.Since(start).Seconds())
		spanErr := err
		if c.absentOK && status == http.StatusNotFound {
			spanErr = nil
		}
		endSpan(span, status, max(sent-1, 0), spanErr)
	}()
	log := logging.WithTrace(ctx, cl.log).With(fields...)
	// The operation's retry series exists from its first call, so a retry
	// rate reads 0 rather than nothing.
	cl.metrics.retries.WithLabelValues(c.op)
	refreshed := false
	attempt := 0
	retry := func(reason string, wait time.Duration, fields ...zap.Field) error {
		attempt++
		cl.metrics.retries.WithLabelValues(c.op).Inc()
		retryEvent(span, reason, attempt, wait)
		log.Warn("retrying control-plane request",
			append(fields, zap.String("reason", reason), zap.Int("attempt", attempt), zap.Duration("wait", wait))...)
		if err := sleep(ctx, wait); err != nil {
			return errkind.Wrap(errkind.Transient, err, "controlplane "+c.op+": cancelled while waiting to retry")
		}
		return nil
	}
	for {
		tok, err := cl.tokens.token(ctx)
		if err != nil {
			var te *tokenErr
			if errors.As(err, &te) && te.retry && attempt < cl.opts.MaxRetries {
				if rerr := retry("token fetch failed", backoff(cl.opts.BackoffBase, cl.opts.BackoffMax, attempt), zap.Error(err)); rerr != nil {
					return nil, rerr
				}
				continue
			}
			return nil, fmt.Errorf("controlplane %s: %w", c.op, err)
		}

		if err := cl.server.wait(ctx); err != nil {
			return nil, errkind.Wrap(errkind.Transient, err, "controlplane "+c.op+": cancelled while waiting for the control plane's rate limit to reset")
		}
		sent++
		resp, err := cl.send(ctx, c, tok.AccessToken)
		if err != nil {
			status = 0
			cl.metrics.requests.WithLabelValues(c.op, "error").Inc()
			kind, what, retryable := classifyTransport(ctx, err)
			if retryable && attempt < cl.opts.MaxRetries {
				if rerr := retry(what, backoff(cl.opts.BackoffBase, cl.opts.BackoffMax, attempt), zap.Error(err)); rerr != nil {
					return nil, rerr
				}
				continue
			}
			return nil, errkind.Wrap(kind, err, "controlplane "+c.op+": "+what)
		}
		cl.metrics.requests.WithLabelValues(c.op, statusClass(resp.status)).Inc()
		cl.server.observe(resp.header, time.Now())
		status = resp.status

		switch {
		case resp.status == http.StatusUnauthorized && !refreshed:
			// The token expired early or the secret was rotated: read the
			// secret again, fetch a new token and try once more.
			refreshed = true
			cl.tokens.invalidate(tok.AccessToken)
			log.Info("control plane refused the access token; fetching a new one")
			continue
		case retryableStatus(resp.status) && attempt < cl.opts.MaxRetries:
			wait := max(backoff(cl.opts.BackoffBase, cl.opts.BackoffMax, attempt), retryAfter(resp.header, time.Now()))
			if rerr := retry(fmt.Sprintf("status %d", resp.status), wait, zap.Int("status", resp.status)); rerr != nil {
				return nil, rerr
			}
			continue
		case resp.status >= 400:
			switch resp.status {
			case http.StatusUnauthorized: // with a token fetched just now
				cl.metrics.authFailures.WithLabelValues(authUnauthorized).Inc()
			case http.StatusForbidden:
				cl.metrics.authFailures.WithLabelValues(authForbidden).Inc()
			}
			return nil, statusError(c.op, resp.status, resp.header, resp.body)
		}
		return resp, nil
	}
}

// send makes one attempt, bounded by the attempt timeout, and reads the body.
func (cl *Client) send(ctx context.Context, c call, token string) (_ *response, err error) {
	ctx, cancel := context.WithTimeout(ctx, cl.opts.Timeout+c.extraTime)
	defer cancel()
	u := *cl.base
	// c.path is already escaped, so an id holding "/" stays one segment.
	u.RawPath = cl.base.EscapedPath() + c.path
	if u.Path, err = url.PathUnescape(u.RawPath); err != nil {
		return nil, errkind.Wrap(errkind.Invalid, err, "controlplane "+c.op+": build request path")
	}
	if c.query != nil {
		u.RawQuery = c.query.Encode()
	}
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, u.String(), body)
	if err != nil {
		return nil, errkind.Wrap(errkind.Invalid, err, "controlplane "+c.op+": build request")
	}
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)

	res, err := cl.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	limit := int64(maxSuccessBody)
	if res.StatusCode >= 400 {
		limit = maxErrorBody
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, limit))
	if err != nil {
		return nil, fmt.Errorf("read answer to %s: %w", c.op, err)
	}
	return &response{status: res.StatusCode, header: res.Header, body: data}, nil
}
