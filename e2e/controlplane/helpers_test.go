package controlplane

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	testClientID = "agent-1"
	testSecret   = "s3cret-one"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type harness struct {
	t     *testing.T
	srv   *Server
	clock *fakeClock
	http  *http.Client
	token string
}

func start(t *testing.T, mod func(*Options)) *harness {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	opts := Options{ClientID: testClientID, ClientSecret: testSecret, Now: clock.Now, LeaseDuration: 30 * time.Second}
	if mod != nil {
		mod(&opts)
	}
	srv, err := Start(opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.CertPool(), MinVersion: tls.VersionTLS12}},
	}
	t.Cleanup(client.CloseIdleConnections)
	return &harness{t: t, srv: srv, clock: clock, http: client}
}

// fetchToken runs the client-credentials grant with form credentials.
func (h *harness) fetchToken(id, secret string) (*http.Response, TokenResponse) {
	h.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
	resp, err := h.http.PostForm(h.srv.TokenURL(), form)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	var tr TokenResponse
	if resp.StatusCode == http.StatusOK {
		require.NoError(h.t, json.NewDecoder(resp.Body).Decode(&tr))
	}
	return resp, tr
}

func (h *harness) login() {
	h.t.Helper()
	resp, tr := h.fetchToken(testClientID, testSecret)
	require.Equal(h.t, http.StatusOK, resp.StatusCode)
	h.token = tr.AccessToken
}

// call makes an API request with the harness token and answers the
// response with its body read.
func (h *harness) call(method, path string, body []byte, hdr map[string]string) (*http.Response, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.APIURL()+path, bytes.NewReader(body))
	require.NoError(h.t, err)
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.http.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	return resp, data
}

func (h *harness) callJSON(method, path string, v any) (*http.Response, []byte) {
	h.t.Helper()
	var body []byte
	if v != nil {
		var err error
		body, err = json.Marshal(v)
		require.NoError(h.t, err)
	}
	return h.call(method, path, body, map[string]string{"Content-Type": "application/json"})
}

func (h *harness) poll(wait int) (*http.Response, Lease) {
	h.t.Helper()
	resp, body := h.call(http.MethodGet, "/work?agent_id=a1&wait="+itoa(wait), nil, nil)
	var l Lease
	if resp.StatusCode == http.StatusOK {
		require.NoError(h.t, json.Unmarshal(body, &l))
	}
	return resp, l
}

func itoa(n int) string { return strconv.Itoa(n) }

func errorBody(t *testing.T, body []byte) ErrorDetail {
	t.Helper()
	var e ErrorBody
	require.NoError(t, json.Unmarshal(body, &e), "body: %s", body)
	require.NotEmpty(t, e.Error.Code)
	require.NotEmpty(t, e.Error.Message)
	require.NotEmpty(t, e.Error.RequestID)
	return e.Error
}
