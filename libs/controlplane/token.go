package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/logging"
)

// tokenSource keeps only the access token; the client id and secret are read
// from the secret store for every fetch and forgotten after it, so a secret
// rotated in the vault is picked up by the next fetch.
type tokenSource struct {
	opts     Options
	http     *http.Client
	metrics  *metrics
	log      *zap.Logger
	tracer   trace.Tracer
	endpoint endpoint // the token endpoint's host and port

	mu  sync.Mutex
	tok *oauth2.Token
	// rotating: the server refused the cached token; the next fetch is
	// recorded as a rotation.
	rotating bool
}

// token returns the cached token while it is valid, else fetches one. The
// lock is held during the fetch so concurrent callers share one request.
func (s *tokenSource) token(ctx context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok.Valid() {
		return s.tok, nil
	}
	tok, err := s.fetch(ctx)
	if err != nil {
		s.metrics.tokens.WithLabelValues("error").Inc()
		var te *tokenErr
		if errors.As(err, &te) && te.rejected {
			s.metrics.authFailures.WithLabelValues(authTokenRejected).Inc()
			s.record(ctx, audit.ActionTokenRefused, audit.OutcomeDenied, nil)
		}
		return nil, err
	}
	action := audit.ActionTokenFetched
	if s.rotating {
		action = audit.ActionTokenRotated
	}
	// A token is used only once its fetch is recorded (fail closed).
	if err := s.record(ctx, action, audit.OutcomeOK, map[string]string{"expires_at": tok.Expiry.UTC().Format(time.RFC3339)}); err != nil {
		s.metrics.tokens.WithLabelValues("error").Inc()
		return nil, errkind.Wrap(errkind.Transient, err, "the control-plane token is not used: its fetch is not recorded in the audit log")
	}
	s.rotating = false
	s.metrics.tokens.WithLabelValues("ok").Inc()
	s.tok = tok
	return tok, nil
}

// invalidate drops the cached token if it is still the one that was refused;
// a concurrent caller may already have replaced it.
func (s *tokenSource) invalidate(refused string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && s.tok.AccessToken == refused {
		s.tok = nil
		s.rotating = true
	}
}

func (s *tokenSource) record(ctx context.Context, action, outcome string, details map[string]string) error {
	return s.opts.Audit.Record(ctx, audit.Entry{Action: action, Actor: s.opts.AuditApp, App: s.opts.AuditApp,
		Target: s.opts.TokenURL, Outcome: outcome, Details: details})
}

// fetch is one client span, the credentials' reads from the secret store
// included; the span's path is the token URL's, never its query.
func (s *tokenSource) fetch(ctx context.Context) (_ *oauth2.Token, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	ctx, span := startSpan(ctx, s.tracer, s.endpoint, http.MethodPost, s.tokenPath(), opToken)
	status := 0
	defer func() { endSpan(span, status, 0, err) }()
	id, err := s.opts.Secrets.Secret(ctx, s.opts.ClientIDRef)
	if err != nil {
		return nil, errkind.Wrap(errkind.Transient, err, fmt.Sprintf("read client id %q from the secret store", s.opts.ClientIDRef))
	}
	secret, err := s.opts.Secrets.Secret(ctx, s.opts.ClientSecretRef)
	if err != nil {
		return nil, errkind.Wrap(errkind.Transient, err, fmt.Sprintf("read client secret %q from the secret store", s.opts.ClientSecretRef))
	}
	if id.IsZero() || secret.IsZero() {
		return nil, errkind.New(errkind.Unauthorized, fmt.Sprintf("client id %q or secret %q is empty in the secret store", s.opts.ClientIDRef, s.opts.ClientSecretRef))
	}
	cfg := clientcredentials.Config{
		ClientID:     id.Reveal(),
		ClientSecret: secret.Reveal(),
		TokenURL:     s.opts.TokenURL,
		Scopes:       s.opts.Scopes,
		AuthStyle:    oauth2.AuthStyleInHeader,
	}
	tok, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, s.http))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil {
			status = re.Response.StatusCode
		}
		return nil, tokenError(ctx, err, secret.Reveal())
	}
	status = http.StatusOK
	logging.WithTrace(ctx, s.log).Debug("fetched control-plane access token", zap.Time("expires_at", tok.Expiry))
	return tok, nil
}

// tokenPath is the token URL's escaped path, the span's url.template.
func (s *tokenSource) tokenPath() string {
	u, err := url.Parse(s.opts.TokenURL)
	if err != nil {
		return ""
	}
	return u.EscapedPath()
}

// tokenError never uses RetrieveError.Error, which quotes the response body:
// only the status and the OAuth error code and description are kept, and the
// secret is cut out should a server echo it.
func tokenError(ctx context.Context, err error, secret string) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		msg := fmt.Sprintf("token endpoint answered %d (error %q: %s)", status, re.ErrorCode, re.ErrorDescription)
		msg = strings.ReplaceAll(msg, secret, "[redacted]")
		kind := errkind.Unauthorized
		hint := "check the client id and secret in the secret store"
		if status == http.StatusTooManyRequests || status >= 500 {
			kind, hint = errkind.Transient, "try again later"
		}
		return &tokenErr{kind: kind, retry: kind == errkind.Transient, rejected: kind == errkind.Unauthorized,
			err: errkind.New(kind, "fetch access token: "+msg+"; "+hint)}
	}
	kind, what, retry := classifyTransport(ctx, err)
	msg := strings.ReplaceAll(err.Error(), secret, "[redacted]")
	return &tokenErr{kind: kind, retry: retry, err: errkind.New(kind, "fetch access token: "+what+": "+msg)}
}

// tokenErr tells the request loop whether fetching again may help.
type tokenErr struct {
	kind  errkind.Kind
	retry bool
	// rejected: the token endpoint refused the client credentials.
	rejected bool
	err      error
}

func (e *tokenErr) Error() string { return e.err.Error() }
func (e *tokenErr) Unwrap() error { return e.err }
