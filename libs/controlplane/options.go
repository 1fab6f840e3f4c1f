package controlplane

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/secret"
)

// SecretReader supplies the OAuth client id and secret by key; the caller
// wires it to the Dapr secret store. It is asked each time a token is needed.
type SecretReader interface {
	Secret(ctx context.Context, key string) (secret.Value, error)
}

// RateLimit is the egress token bucket applied to every request.
// PerSecond <= 0 means unlimited.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// Options configure a Client. BaseURL, TokenURL, ClientIDRef,
// ClientSecretRef, Secrets and AllowedHosts are required.
type Options struct {
	// BaseURL is the API root, e.g. https://tenant.example.com/api/agent/v1.
	BaseURL string
	// TokenURL is the OAuth 2.0 token endpoint (client credentials).
	TokenURL string
	// ClientIDRef and ClientSecretRef are keys passed to Secrets.
	ClientIDRef     string
	ClientSecretRef string
	Secrets         SecretReader
	// Scopes are requested with the token; empty requests none.
	Scopes []string

	// AllowedHosts lists the host names (or IPs) the client may connect to;
	// "*.example.com" matches any subdomain of example.com. Any other host is
	// refused before a connection is made.
	AllowedHosts []string
	// PinnedSPKISHA256 optionally lists base64 or hex SHA-256 digests of
	// SubjectPublicKeyInfo; when set, a verified chain must contain one.
	PinnedSPKISHA256 []string
	// RootCAs replaces the system roots when set.
	RootCAs *x509.CertPool
	// ProxyURL is an optional proxy reached with CONNECT (http:// or https://).
	// Its host is dialed without being on AllowedHosts; the tunnelled target
	// host must still be allowed.
	ProxyURL string

	RateLimit RateLimit
	// MaxRetries is how many times a request is repeated after 429, 502, 503,
	// 504 or a connection error. 0 means no retries.
	MaxRetries int
	// BackoffBase and BackoffMax bound the full-jitter exponential backoff
	// (defaults 250ms and 30s). Retry-After always wins when longer.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Timeout bounds one attempt (default 30s); PollWork adds its wait to it.
	Timeout time.Duration

	Logger     *zap.Logger
	Registerer prometheus.Registerer
	// TracerProvider makes every API call and token fetch a client span;
	// nil records none.
	TracerProvider trace.TracerProvider
	// Audit records token fetches, refusals and rotations (a fetched
	// token is used only once recorded) and refused egress; AuditApp is
	// the app recording. Nil: audit.Off.
	Audit    audit.Recorder
	AuditApp string
}

func (o *Options) withDefaults() Options {
	out := *o
	if out.BackoffBase <= 0 {
		out.BackoffBase = 250 * time.Millisecond
	}
	if out.BackoffMax <= 0 {
		out.BackoffMax = 30 * time.Second
	}
	if out.Timeout <= 0 {
		out.Timeout = 30 * time.Second
	}
	if out.Logger == nil {
		out.Logger = zap.NewNop()
	}
	if out.TracerProvider == nil {
		out.TracerProvider = noop.NewTracerProvider()
	}
	if out.Audit == nil {
		out.Audit = audit.Off{}
	}
	if out.AuditApp == "" {
		out.AuditApp = "agent"
	}
	return out
}

// validate reports every problem at once so a misconfigured agent is fixed
// in one round.
func (o *Options) validate() error {
	var errs []error
	checkHTTPS := func(name, raw string) {
		if raw == "" {
			errs = append(errs, fmt.Errorf("%s is required", name))
			return
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s must be an https:// URL, got %q", name, raw))
		}
	}
	checkHTTPS("BaseURL", o.BaseURL)
	checkHTTPS("TokenURL", o.TokenURL)
	if o.ClientIDRef == "" {
		errs = append(errs, errors.New("ClientIDRef is required"))
	}
	if o.ClientSecretRef == "" {
		errs = append(errs, errors.New("ClientSecretRef is required"))
	}
	if o.Secrets == nil {
		errs = append(errs, errors.New("Secrets (the secret reader) is required"))
	}
	if len(o.AllowedHosts) == 0 {
		errs = append(errs, errors.New("AllowedHosts is required: list the control plane and token hosts"))
	}
	for _, h := range o.AllowedHosts {
		if strings.TrimSpace(h) == "" || strings.ContainsAny(h, ":/") {
			errs = append(errs, fmt.Errorf("AllowedHosts entry %q must be a bare host name without scheme or port", h))
		}
	}
	if _, err := parsePins(o.PinnedSPKISHA256); err != nil {
		errs = append(errs, err)
	}
	if o.ProxyURL != "" {
		u, err := url.Parse(o.ProxyURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("ProxyURL must be an http:// or https:// URL, got %q", o.ProxyURL))
		}
	}
	if o.MaxRetries < 0 {
		errs = append(errs, errors.New("MaxRetries must not be negative"))
	}
	if o.RateLimit.PerSecond > 0 && o.RateLimit.Burst < 1 {
		errs = append(errs, errors.New("RateLimit.Burst must be at least 1 when RateLimit.PerSecond is set"))
	}
	if len(errs) > 0 {
		return errkind.Wrap(errkind.Invalid, errors.Join(errs...), "controlplane: invalid options")
	}
	return nil
}
