package controlplane

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/config"
	"github.com/secure-agent/secure-agent/libs/daprclient"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/secret"
)

// Settings are the control-plane link settings shared by the services that
// call out (orchestrator, publisher, health). An empty URL turns the link off.
type Settings struct {
	URL             string
	TokenURL        string
	AllowedHosts    string
	CAFile          string
	Pins            string
	ProxyURL        string
	SecretStore     string
	ClientIDKey     string
	ClientSecretKey string
	AgentID         string
	RatePerSecond   int
	MaxRetries      int
	Timeout         time.Duration
}

// Enabled reports whether a control plane is configured.
func (s Settings) Enabled() bool { return s.URL != "" }

// Register adds the CONTROLPLANE_* settings to l and returns the
// cross-field checks run after loading.
func Register(l *config.Loader, s *Settings) func(*config.Loader) {
	l.String(&s.URL, "CONTROLPLANE_URL", "", "agent API base URL of the control plane, e.g. https://tenant.atlan.com/api/agent/v1; empty: no control-plane link")
	l.String(&s.TokenURL, "CONTROLPLANE_TOKEN_URL", "", "OAuth 2.0 client-credentials token URL, e.g. https://tenant.atlan.com/auth/realms/default/protocol/openid-connect/token")
	l.String(&s.AllowedHosts, "CONTROLPLANE_ALLOWED_HOSTS", "", "comma-separated hosts the agent may call (default: the hosts of CONTROLPLANE_URL and CONTROLPLANE_TOKEN_URL); any other host is refused before connecting")
	l.String(&s.CAFile, "CONTROLPLANE_CA_FILE", "", "PEM file of CA certificates to trust instead of the system roots (a private CA or a TLS-inspecting proxy)")
	l.String(&s.Pins, "CONTROLPLANE_PINS", "", "optional comma-separated SHA-256 pins (base64 or hex) of a SubjectPublicKeyInfo in the server's chain")
	l.String(&s.ProxyURL, "CONTROLPLANE_PROXY", "", "HTTPS proxy reached with CONNECT, e.g. http://proxy.corp:3128 (the environment's proxy variables are not used)")
	l.String(&s.SecretStore, "CONTROLPLANE_SECRET_STORE", "secrets", "Dapr secret store holding the OAuth client id and secret")
	l.String(&s.ClientIDKey, "CONTROLPLANE_CLIENT_ID_KEY", "controlplane-client-id", "key of the OAuth client id in the secret store")
	l.String(&s.ClientSecretKey, "CONTROLPLANE_CLIENT_SECRET_KEY", "controlplane-client-secret", "key of the OAuth client secret in the secret store")
	l.String(&s.AgentID, "AGENT_ID", defaultAgentID(), "this agent's id towards the control plane (default: the host name)")
	l.Int(&s.RatePerSecond, "CONTROLPLANE_RATE_LIMIT", 20, "most requests per second to the control plane (egress rate limit)")
	l.Int(&s.MaxRetries, "CONTROLPLANE_MAX_RETRIES", 6, "retries of a request after 429, 5xx or a dropped connection, with backoff and jitter")
	l.Duration(&s.Timeout, "CONTROLPLANE_TIMEOUT", 30*time.Second, "time limit of one request attempt")
	return func(l *config.Loader) {
		if !s.Enabled() {
			return
		}
		l.Check(isHTTPS(s.URL), "CONTROLPLANE_URL", "must be an https:// URL")
		l.Check(isHTTPS(s.TokenURL), "CONTROLPLANE_TOKEN_URL", "must be an https:// URL when CONTROLPLANE_URL is set")
		l.Check(s.AgentID != "", "AGENT_ID", "must name this agent")
		l.Check(s.RatePerSecond >= 1, "CONTROLPLANE_RATE_LIMIT", "must be at least 1")
		l.Check(s.MaxRetries >= 0, "CONTROLPLANE_MAX_RETRIES", "must not be negative")
		l.Check(s.SecretStore != "" && s.ClientIDKey != "" && s.ClientSecretKey != "", "CONTROLPLANE_SECRET_STORE",
			"the secret store and both key names must be set")
	}
}

func defaultAgentID() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "secure-agent"
	}
	return h
}

func isHTTPS(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "https" && u.Host != ""
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// HostsOf answers the allowlist: the configured hosts, or the hosts of the
// API and token URLs.
func (s Settings) HostsOf() []string {
	if hosts := splitList(s.AllowedHosts); len(hosts) > 0 {
		return hosts
	}
	var out []string
	for _, raw := range []string{s.URL, s.TokenURL} {
		if u, err := url.Parse(raw); err == nil && u.Hostname() != "" && !slices.Contains(out, u.Hostname()) {
			out = append(out, u.Hostname())
		}
	}
	return out
}

// Option adds to the Options NewFromSettings builds.
type Option func(*Options)

// WithTracerProvider makes every API call and token fetch a client span
// (Options.TracerProvider).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *Options) { o.TracerProvider = tp }
}

// WithAudit records the client's token fetches and refused egress in the
// audit log as app.
func WithAudit(r audit.Recorder, app string) Option {
	return func(o *Options) { o.Audit, o.AuditApp = r, app }
}

// NewFromSettings builds a client from loaded settings; secrets are read
// through r each time a token is needed.
func NewFromSettings(s Settings, r SecretReader, log *zap.Logger, reg prometheus.Registerer, opts ...Option) (*Client, error) {
	var pool *x509.CertPool
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, errkind.Wrap(errkind.Invalid, err, "CONTROLPLANE_CA_FILE: read "+s.CAFile)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errkind.New(errkind.Invalid, fmt.Sprintf("CONTROLPLANE_CA_FILE: %s holds no PEM certificate", s.CAFile))
		}
	}
	o := Options{
		BaseURL: s.URL, TokenURL: s.TokenURL,
		ClientIDRef: s.ClientIDKey, ClientSecretRef: s.ClientSecretKey, Secrets: r,
		AllowedHosts: s.HostsOf(), PinnedSPKISHA256: splitList(s.Pins), RootCAs: pool, ProxyURL: s.ProxyURL,
		RateLimit:  RateLimit{PerSecond: float64(s.RatePerSecond), Burst: max(s.RatePerSecond, 1)},
		MaxRetries: s.MaxRetries, Timeout: s.Timeout, Logger: log, Registerer: reg,
	}
	for _, f := range opts {
		f(&o)
	}
	return New(o)
}

// SecretGetter is the slice of the Dapr client DaprSecrets needs.
type SecretGetter interface {
	GetSecret(ctx context.Context, storeName, key string, meta map[string]string) (map[string]string, error)
}

// DaprSecrets reads the client id and secret from a Dapr secret store on
// every call: nothing is kept, so a rotation in the vault needs no restart.
type DaprSecrets struct {
	Getter SecretGetter
	Store  string
}

// Secret implements SecretReader. Errors name the store and key, never a
// value, and carry a kind: NotFound for a missing or empty secret,
// Unauthorized for one this app's secret scopes deny, Transient otherwise.
func (d DaprSecrets) Secret(ctx context.Context, key string) (secret.Value, error) {
	data, err := d.Getter.GetSecret(ctx, d.Store, key, nil)
	if errors.Is(err, audit.ErrUnavailable) {
		return secret.Value{}, err // it says the read was not recorded and the value not used
	}
	if err != nil {
		switch daprclient.SecretErrorKind(err) {
		case errkind.Unauthorized:
			return secret.Value{}, errkind.Wrap(errkind.Unauthorized, err, fmt.Sprintf("read secret %q from secret store %q: "+
				"this app's secret scopes do not allow it (allow the key in its Dapr Configuration)", key, d.Store))
		case errkind.NotFound:
			return secret.Value{}, errkind.Wrap(errkind.NotFound, err, fmt.Sprintf("read secret %q from secret store %q: "+
				"the key does not exist (add it to the store)", key, d.Store))
		}
		return secret.Value{}, errkind.Wrap(errkind.Transient, err, fmt.Sprintf("read secret %q from secret store %q "+
			"(does the key exist, and do this app's secret scopes allow it?)", key, d.Store))
	}
	v := data[key]
	if v == "" && len(data) == 1 {
		for _, only := range data {
			v = only
		}
	}
	if v == "" {
		return secret.Value{}, errkind.New(errkind.NotFound, fmt.Sprintf("secret %q in store %q is missing or empty", key, d.Store))
	}
	return secret.New(v), nil
}

// StoreName is the Dapr secret store, the store label of
// secure_agent_secret_reads_total.
func (d DaprSecrets) StoreName() string { return d.Store }
