package controlplane

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// APIPrefix is where the agent API lives under the base URL.
const APIPrefix = "/api/agent/v1"

// TokenPath is Keycloak's client-credentials token endpoint.
const TokenPath = "/auth/realms/default/protocol/openid-connect/token"

// Options configure a Server. Zero values take the defaults noted.
type Options struct {
	// Addr is the HTTPS listen address; default 127.0.0.1:0.
	Addr string
	// AdminAddr is the plain-HTTP admin listen address; empty means no
	// admin API. It must be a loopback address.
	AdminAddr string
	// ClientID and ClientSecret are the accepted client credentials.
	ClientID, ClientSecret string
	// TokenLifetime of issued access tokens; default 5m.
	TokenLifetime time.Duration
	// LeaseDuration of work leases; default 60s.
	LeaseDuration time.Duration
	// RateLimit is how many API requests one window allows before 429;
	// default 10000. RateWindow is its length; default 1m.
	RateLimit  int
	RateWindow time.Duration
	// MaxFileBytes bounds an ingested file; default 256 MiB.
	MaxFileBytes int64
	// TLS11Only serves TLS 1.0–1.1 only, for negative tests.
	TLS11Only bool
	// Now is the clock for lease and token expiry; default time.Now.
	Now func() time.Time
}

func (o *Options) defaults() error {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.ClientID == "" || o.ClientSecret == "" {
		return errors.New("controlplane: set a client id and a client secret")
	}
	if o.TokenLifetime <= 0 {
		o.TokenLifetime = 5 * time.Minute
	}
	if o.LeaseDuration <= 0 {
		o.LeaseDuration = time.Minute
	}
	if o.RateLimit <= 0 {
		o.RateLimit = 10000
	}
	if o.RateWindow <= 0 {
		o.RateWindow = time.Minute
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = 256 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Server is a running control plane. All methods are safe for concurrent use.
type Server struct {
	opts Options
	ca   *testCA

	ln, adminLn   net.Listener
	srv, adminSrv *http.Server
	closing       chan struct{}
	closeOnce     sync.Once
	auth          *authority
	faults        *faultInjector
	limiter       *rateLimiter
	work          *workQueue
	store         *jobStore
	witness       *witness
	catalog       *catalog
}

// Start listens and serves until Close.
func Start(opts Options) (*Server, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	ca, err := newTestCA(time.Now())
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:    opts,
		ca:      ca,
		closing: make(chan struct{}),
		auth:    newAuthority(opts.ClientID, opts.ClientSecret, opts.TokenLifetime, opts.Now),
		faults:  newFaultInjector(),
		limiter: newRateLimiter(opts.RateLimit, opts.RateWindow, opts.Now),
		work:    newWorkQueue(opts.LeaseDuration, opts.Now),
		store:   newJobStore(),
		catalog: newCatalog(),
	}
	if s.witness, err = newWitness(opts.Now); err != nil {
		return nil, fmt.Errorf("controlplane: witness key: %w", err)
	}
	s.ln, err = net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("controlplane: listen on %s: %w", opts.Addr, err)
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	s.srv = &http.Server{
		Handler:           withRequestID(s.faults.middleware(s.routes())),
		TLSConfig:         ca.serverTLS(opts.TLS11Only),
		Protocols:         protocols,
		ReadHeaderTimeout: 10 * time.Second,
		// TLS handshake failures of negative tests are expected; keep them quiet.
		ErrorLog: discardLogger(),
	}
	go func() { _ = s.srv.ServeTLS(s.ln, "", "") }()

	if opts.AdminAddr != "" {
		if err := s.startAdmin(opts.AdminAddr); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Close stops both listeners and ends waiting long-polls.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	if s.adminSrv != nil {
		errs = append(errs, s.adminSrv.Shutdown(ctx))
	}
	errs = append(errs, s.srv.Shutdown(ctx))
	return errors.Join(errs...)
}

// BaseURL is the HTTPS origin, e.g. https://127.0.0.1:41234.
func (s *Server) BaseURL() string { return "https://" + s.ln.Addr().String() }

// APIURL is the agent API base: BaseURL + /api/agent/v1.
func (s *Server) APIURL() string { return s.BaseURL() + APIPrefix }

// TokenURL is the OAuth 2.0 token endpoint.
func (s *Server) TokenURL() string { return s.BaseURL() + TokenPath }

// AdminURL is the plain-HTTP admin API origin, or "" without one.
func (s *Server) AdminURL() string {
	if s.adminLn == nil {
		return ""
	}
	return "http://" + s.adminLn.Addr().String()
}

// CAPEM is the PEM of the CA that signed the server certificate.
func (s *Server) CAPEM() []byte { return append([]byte(nil), s.ca.caPEM...) }

// CertPool trusts the server's CA.
func (s *Server) CertPool() *x509.CertPool { return s.ca.pool.Clone() }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+TokenPath, s.handleToken)

	api := http.NewServeMux()
	api.HandleFunc("GET "+APIPrefix+"/work", s.handleWork)
	api.HandleFunc("POST "+APIPrefix+"/leases/{lease_id}/renew", s.handleRenew)
	api.HandleFunc("POST "+APIPrefix+"/leases/{lease_id}/release", s.handleRelease)
	api.HandleFunc("POST "+APIPrefix+"/leases/{lease_id}/status", s.handleStatus)
	api.HandleFunc("POST "+APIPrefix+"/heartbeat", s.handleHeartbeat)
	api.HandleFunc("POST "+APIPrefix+"/jobs/{job_id}/logs", s.handleLogs)
	api.HandleFunc("HEAD "+APIPrefix+"/jobs/{job_id}/files/{sha256}", s.handleHasFile)
	api.HandleFunc("PUT "+APIPrefix+"/jobs/{job_id}/files/{sha256}", s.handleIngestFile)
	api.HandleFunc("PUT "+APIPrefix+"/jobs/{job_id}/manifest", s.handleManifest)
	api.HandleFunc("POST "+APIPrefix+"/audit/checkpoints", s.handleAddCheckpoint)
	api.HandleFunc(APIPrefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	mux.Handle(APIPrefix+"/", s.limiter.middleware(s.auth.middleware(api)))
	return mux
}
