package app

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/controlplane"
	"github.com/secure-agent/secure-agent/libs/secret"
)

// fakeControlPlane is the part of the control plane health talks to, over
// real HTTPS (service modules cannot use the reference server in e2e): a
// client-credentials token endpoint, POST /heartbeat and POST
// /jobs/{id}/logs with the reference server's checks (known jobs, 1 MiB
// limit, gzip NDJSON with ts/level/msg, batches kept once per sequence),
// and scripted failures.
type fakeControlPlane struct {
	srv *httptest.Server

	mu         sync.Mutex
	known      map[string]bool                // jobs the control plane leased
	logs       map[string]map[int]storedBatch // job -> sequence -> batch
	attempts   []logAttempt                   // every upload attempt, failed ones too, in arrival order
	heartbeats []controlplane.Heartbeat
	script     map[string][]int // "POST /heartbeat" -> statuses answered before the real answer
	down       bool             // every API call answers 503
	hold       chan struct{}    // when set, API calls wait for it to close
	held       chan struct{}    // closed when the first call is held
	holdOnce   sync.Once
}

type storedBatch struct {
	Dropped int
	Lines   []controlplane.LogLine
}

type logAttempt struct {
	job     string
	seq     int
	dropped int
	size    int
}

const (
	fakeClientID = "agent-client"
	fakeSecret   = "agent-secret"
	fakeAPI      = "/api/agent/v1"
)

func newFakeControlPlane(t *testing.T, knownJobs ...string) *fakeControlPlane {
	t.Helper()
	f := &fakeControlPlane{known: map[string]bool{}, logs: map[string]map[int]storedBatch{}, script: map[string][]int{}}
	for _, j := range knownJobs {
		f.known[j] = true
	}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

type staticSecrets map[string]string

func (s staticSecrets) Secret(_ context.Context, key string) (secret.Value, error) {
	return secret.New(s[key]), nil
}

// client is the real control-plane client, with fast retries.
func (f *fakeControlPlane) client(t *testing.T, retries int) *controlplane.Client {
	t.Helper()
	return f.tracedClient(t, retries, nil)
}

// tracedClient is client recording its spans with tp.
func (f *fakeControlPlane) tracedClient(t *testing.T, retries int, tp trace.TracerProvider) *controlplane.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(f.srv.Certificate())
	cl, err := controlplane.New(controlplane.Options{
		BaseURL: f.srv.URL + fakeAPI, TokenURL: f.srv.URL + "/token",
		ClientIDRef: "id", ClientSecretRef: "secret", Secrets: staticSecrets{"id": fakeClientID, "secret": fakeSecret},
		AllowedHosts: []string{"127.0.0.1"}, RootCAs: pool,
		MaxRetries: retries, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, Timeout: 10 * time.Second,
		Logger: zap.NewNop(), TracerProvider: tp,
	})
	require.NoError(t, err)
	return cl
}

func (f *fakeControlPlane) push(key string, statuses ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script[key] = append(f.script[key], statuses...)
}

func (f *fakeControlPlane) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *fakeControlPlane) stored(job string) map[int]storedBatch {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[int]storedBatch{}
	for k, v := range f.logs[job] {
		out[k] = v
	}
	return out
}

func (f *fakeControlPlane) uploads() []logAttempt {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]logAttempt(nil), f.attempts...)
}

func (f *fakeControlPlane) beats() []controlplane.Heartbeat {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]controlplane.Heartbeat(nil), f.heartbeats...)
}

func fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg, "request_id": "req-1"}})
}

func (f *fakeControlPlane) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 2<<20))
	if r.URL.Path == "/token" {
		id, secret, _ := r.BasicAuth()
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		form, _ := url.ParseQuery(string(body))
		if id != fakeClientID || secret != fakeSecret || form.Get("grant_type") != "client_credentials" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"tok","token_type":"Bearer","expires_in":3600}`))
		return
	}
	if r.Header.Get("Authorization") != "Bearer tok" {
		fail(w, http.StatusUnauthorized, "invalid_token", "missing token")
		return
	}
	f.mu.Lock()
	hold := f.hold
	f.mu.Unlock()
	if hold != nil {
		f.holdOnce.Do(func() { close(f.held) })
		<-hold
	}
	path := strings.TrimPrefix(r.URL.Path, fakeAPI)
	key := r.Method + " " + path
	if strings.HasSuffix(path, "/logs") {
		key = r.Method + " /jobs/*/logs"
		seq, _ := strconv.Atoi(r.Header.Get("X-Batch-Sequence"))
		dropped, _ := strconv.Atoi(r.Header.Get("X-Dropped-Lines"))
		f.mu.Lock()
		f.attempts = append(f.attempts, logAttempt{job: strings.TrimSuffix(strings.TrimPrefix(path, "/jobs/"), "/logs"),
			seq: seq, dropped: dropped, size: len(body)})
		f.mu.Unlock()
	}
	f.mu.Lock()
	status := 0
	if f.down {
		status = http.StatusServiceUnavailable
	} else if s := f.script[key]; len(s) > 0 {
		status, f.script[key] = s[0], s[1:]
	}
	f.mu.Unlock()
	if status != 0 {
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "0")
		}
		fail(w, status, "scripted", fmt.Sprintf("scripted %d", status))
		return
	}
	switch {
	case r.Method == http.MethodPost && path == "/heartbeat":
		var hb controlplane.Heartbeat
		if err := json.Unmarshal(body, &hb); err != nil || hb.AgentID == "" || hb.Status == "" {
			fail(w, http.StatusBadRequest, "invalid_request", "bad heartbeat")
			return
		}
		f.mu.Lock()
		f.heartbeats = append(f.heartbeats, hb)
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPost && strings.HasPrefix(path, "/jobs/") && strings.HasSuffix(path, "/logs"):
		f.serveLogs(w, r, strings.TrimSuffix(strings.TrimPrefix(path, "/jobs/"), "/logs"), body)
	default:
		fail(w, http.StatusNotFound, "not_found", "no route "+key)
	}
}

func (f *fakeControlPlane) serveLogs(w http.ResponseWriter, r *http.Request, job string, body []byte) {
	seq, err := strconv.Atoi(r.Header.Get("X-Batch-Sequence"))
	if err != nil || seq < 0 {
		fail(w, http.StatusBadRequest, "invalid_request", "bad sequence")
		return
	}
	dropped, err := strconv.Atoi(r.Header.Get("X-Dropped-Lines"))
	if err != nil || dropped < 0 {
		fail(w, http.StatusBadRequest, "invalid_request", "bad dropped count")
		return
	}
	f.mu.Lock()
	known := f.known[job]
	f.mu.Unlock()
	if !known {
		fail(w, http.StatusNotFound, "not_found", "unknown job "+job)
		return
	}
	if len(body) > 1<<20 {
		fail(w, http.StatusRequestEntityTooLarge, "too_large", "over 1 MiB")
		return
	}
	if r.Header.Get("Content-Encoding") != "gzip" {
		fail(w, http.StatusBadRequest, "invalid_request", "not gzip")
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		fail(w, http.StatusBadRequest, "invalid_request", "not gzip")
		return
	}
	var lines []controlplane.LogLine
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 8<<20)
	for sc.Scan() {
		var l controlplane.LogLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.TS.IsZero() || l.Level == "" || l.Msg == "" {
			fail(w, http.StatusBadRequest, "invalid_request", "bad line")
			return
		}
		lines = append(lines, l)
	}
	if sc.Err() != nil {
		fail(w, http.StatusBadRequest, "invalid_request", "bad gzip")
		return
	}
	f.mu.Lock()
	if f.logs[job] == nil {
		f.logs[job] = map[int]storedBatch{}
	}
	if _, seen := f.logs[job][seq]; !seen {
		f.logs[job][seq] = storedBatch{Dropped: dropped, Lines: lines}
	}
	f.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}
