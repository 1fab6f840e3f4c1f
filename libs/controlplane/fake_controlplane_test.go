package controlplane

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/secure-agent/secure-agent/libs/secret"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// fakeControlPlane is a faithful stand-in for the SaaS (which cannot run
// here): a real HTTPS server with a client-credentials token endpoint, bearer
// checks, the protocol's error bodies, and scripted failures.
type fakeControlPlane struct {
	srv *httptest.Server

	mu           sync.Mutex
	clientID     string
	secret       string
	tokens       map[string]bool
	tokenFetches int
	tokenEcho    bool // a hostile token endpoint quotes the presented secret
	rejectAPI    bool // every API call answers 401
	hits         []hit
	script       map[string][]scripted // "METHOD /path" -> answers given before the real one
	files        map[string][]byte
	logHeaders   []http.Header
	noWork       bool
	redirectTo   string
}

type hit struct {
	at     time.Time
	method string
	path   string
}

type scripted struct {
	status int // 0: add header to the real answer
	header map[string]string
	drop   bool // close the connection without answering
}

const (
	testClientID = "agent-client"
	apiPrefix    = "/api/agent/v1"
)

func newFakeControlPlane(t *testing.T, secret string, cfg *tls.Config) *fakeControlPlane {
	t.Helper()
	f := &fakeControlPlane{clientID: testClientID, secret: secret, tokens: map[string]bool{},
		script: map[string][]scripted{}, files: map[string][]byte{}}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.TLS = cfg
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of some tests
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeControlPlane) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(f.srv.Certificate())
	return p
}

func (f *fakeControlPlane) spkiSHA256() [32]byte {
	return sha256.Sum256(f.srv.Certificate().RawSubjectPublicKeyInfo)
}

func (f *fakeControlPlane) push(key string, answers ...scripted) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script[key] = append(f.script[key], answers...)
}

// rotate makes the server accept only the new secret and forget every token,
// as a vault rotation plus token revocation would.
func (f *fakeControlPlane) rotate(secret string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.secret = secret
	f.tokens = map[string]bool{}
}

func (f *fakeControlPlane) set(fn func(f *fakeControlPlane)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeControlPlane) snapshot() (hits []hit, tokenFetches int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]hit(nil), f.hits...), f.tokenFetches
}

func (f *fakeControlPlane) apiHits(path string) []hit {
	hits, _ := f.snapshot()
	var out []hit
	for _, h := range hits {
		if h.path == apiPrefix+path {
			out = append(out, h)
		}
	}
	return out
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{
		"code": code, "message": msg, "request_id": fmt.Sprintf("req-%d-%s", status, code)}})
}

func (f *fakeControlPlane) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.hits = append(f.hits, hit{at: time.Now(), method: r.Method, path: r.URL.Path})
	f.mu.Unlock()

	if r.URL.Path == "/token" {
		f.serveToken(w, r, body)
		return
	}
	f.mu.Lock()
	authorized := !f.rejectAPI && f.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	key := r.Method + " " + strings.TrimPrefix(r.URL.Path, apiPrefix)
	var next *scripted
	if authorized && len(f.script[key]) > 0 {
		next = &f.script[key][0]
		f.script[key] = f.script[key][1:]
	}
	f.mu.Unlock()

	switch {
	case !authorized:
		writeError(w, http.StatusUnauthorized, "invalid_token", "the access token is missing, expired or revoked")
		return
	case next != nil && next.drop:
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
		return
	case next != nil:
		for k, v := range next.header {
			w.Header().Set(k, v)
		}
		if next.status == 0 { // headers only; the real answer follows
			break
		}
		writeError(w, next.status, "scripted", fmt.Sprintf("scripted answer %d", next.status))
		return
	}
	f.serveAPI(w, r, strings.TrimPrefix(r.URL.Path, apiPrefix), body)
}

func (f *fakeControlPlane) serveToken(w http.ResponseWriter, r *http.Request, body []byte) {
	id, secret, _ := r.BasicAuth()
	// RFC 6749 2.3.1: the client id and secret are form-encoded inside Basic auth.
	id, _ = url.QueryUnescape(id)
	secret, _ = url.QueryUnescape(secret)
	form, _ := url.ParseQuery(string(body))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenFetches++
	if r.Method != http.MethodPost || form.Get("grant_type") != "client_credentials" || id != f.clientID || secret != f.secret {
		desc := "client authentication failed"
		if f.tokenEcho {
			desc += " for secret " + secret
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": desc})
		return
	}
	tok := fmt.Sprintf("access-token-%d", f.tokenFetches)
	f.tokens[tok] = true
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
}

func (f *fakeControlPlane) serveAPI(w http.ResponseWriter, r *http.Request, path string, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	parts := strings.Split(strings.Trim(path, "/"), "/")
	lease := func(id string) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"lease_id": id, "job_id": "job-1",
			"expires_at": time.Now().Add(time.Minute).UTC().Format(time.RFC3339), "duration_seconds": 60,
			"spec": map[string]any{"source": map[string]string{"kind": "postgres"}}})
	}
	switch {
	case r.Method == http.MethodGet && path == "/work":
		if r.URL.Query().Get("agent_id") == "" {
			writeError(w, http.StatusBadRequest, "invalid", "agent_id is required")
		} else if f.noWork {
			w.WriteHeader(http.StatusNoContent)
		} else {
			lease("lease-1")
		}
	case r.Method == http.MethodPost && len(parts) == 3 && parts[0] == "leases":
		switch {
		case parts[1] == "lost":
			writeError(w, http.StatusConflict, "lease_lost", "lease expired and was given to another agent")
		case parts[1] == "unknown":
			writeError(w, http.StatusNotFound, "not_found", "no such lease")
		case parts[2] == "renew":
			lease(parts[1])
		case parts[2] == "release":
			w.WriteHeader(http.StatusNoContent)
		case parts[2] == "status":
			var s StatusReport
			if json.Unmarshal(body, &s) != nil || s.State == "" {
				writeError(w, http.StatusBadRequest, "invalid", "state is required")
				return
			}
			w.WriteHeader(http.StatusOK)
		}
	case r.Method == http.MethodPost && path == "/heartbeat":
		if f.redirectTo != "" {
			http.Redirect(w, r, f.redirectTo, http.StatusTemporaryRedirect)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPost && len(parts) == 3 && parts[2] == "logs":
		f.logHeaders = append(f.logHeaders, r.Header.Clone())
		w.WriteHeader(http.StatusOK)
	case len(parts) == 4 && parts[2] == "files":
		key := parts[1] + "/" + parts[3]
		switch r.Method {
		case http.MethodHead:
			if _, ok := f.files[key]; !ok {
				w.WriteHeader(http.StatusNotFound)
			}
		case http.MethodPut:
			sum := sha256.Sum256(body)
			if hex.EncodeToString(sum[:]) != parts[3] {
				writeError(w, http.StatusBadRequest, "sha_mismatch", "body does not hash to the path's sha256")
				return
			}
			receipt := []byte(`{"receipt":"r-` + parts[3][:12] + `"}`)
			if _, ok := f.files[key]; ok {
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(receipt)
				return
			}
			f.files[key] = body
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write(receipt)
		}
	case r.Method == http.MethodPut && len(parts) == 3 && parts[2] == "manifest":
		w.WriteHeader(http.StatusOK)
	default:
		writeError(w, http.StatusNotFound, "not_found", "unknown path "+path)
	}
}

// vault is the SecretReader the tests hand the client; the agent wires a
// Dapr secret store instead. It counts reads to prove nothing is cached.
type vault struct {
	mu     sync.Mutex
	values map[string]string
	reads  map[string]int
}

func newVault(secret string) *vault {
	return &vault{values: map[string]string{"cp-id": testClientID, "cp-secret": secret}, reads: map[string]int{}}
}

func (v *vault) Secret(_ context.Context, key string) (secret.Value, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.reads[key]++
	s, ok := v.values[key]
	if !ok {
		return secret.Value{}, fmt.Errorf("secret %q not found", key)
	}
	return secret.New(s), nil
}

func (v *vault) put(key, value string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.values[key] = value
}

func (v *vault) readsOf(key string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.reads[key]
}

type harness struct {
	cp    *fakeControlPlane
	vault *vault
	logs  *observer.ObservedLogs
	opts  Options
}

func newHarness(t *testing.T, secret string) *harness {
	t.Helper()
	cp := newFakeControlPlane(t, secret, nil)
	core, logs := observer.New(zap.DebugLevel)
	v := newVault(secret)
	return &harness{cp: cp, vault: v, logs: logs, opts: Options{
		BaseURL:         cp.srv.URL + apiPrefix,
		TokenURL:        cp.srv.URL + "/token",
		ClientIDRef:     "cp-id",
		ClientSecretRef: "cp-secret",
		Secrets:         v,
		AllowedHosts:    []string{"127.0.0.1"},
		RootCAs:         cp.pool(),
		MaxRetries:      3,
		BackoffBase:     5 * time.Millisecond,
		BackoffMax:      50 * time.Millisecond,
		Timeout:         5 * time.Second,
		Logger:          zap.New(core),
		Registerer:      prometheus.NewRegistry(),
	}}
}

func (h *harness) client(t *testing.T) *Client {
	t.Helper()
	c, err := New(h.opts)
	require.NoError(t, err)
	return c
}

// countingListener counts accepted TCP connections and answers none.
type countingListener struct {
	ln      net.Listener
	accepts atomic.Int64
}

func newCountingListener(t *testing.T) *countingListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	c := &countingListener{ln: ln}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.accepts.Add(1)
			_ = conn.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return c
}

func (c *countingListener) port() int { return c.ln.Addr().(*net.TCPAddr).Port }
