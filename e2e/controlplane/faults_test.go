package controlplane

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFaultRateLimit(t *testing.T) {
	h := start(t, nil)
	h.login()
	require.NoError(t, h.srv.Inject(Fault{Kind: FaultRateLimit, Count: 2, RetryAfter: 7 * time.Second, PathPrefix: APIPrefix + "/work"}))

	// Another path is not hit.
	resp, _ := h.callJSON(http.MethodPost, "/heartbeat", Heartbeat{AgentID: "a", Version: "v", At: time.Now(), Status: "ok"})
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	for range 2 {
		resp, body := h.poll(0)
		require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
		require.Equal(t, "7", resp.Header.Get("Retry-After"))
		_ = body
	}
	resp, _ = h.poll(0)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	c := h.srv.Counters()
	require.Equal(t, 2, c.Faults[FaultRateLimit])
	require.Equal(t, 3, c.Requests[APIPrefix+"/work"])
	require.Equal(t, 1, c.Requests[APIPrefix+"/heartbeat"])
	require.Empty(t, h.srv.PendingFaults())
}

func TestFaultServerError(t *testing.T) {
	h := start(t, nil)
	h.login()
	require.NoError(t, h.srv.Inject(Fault{Kind: FaultServerError}))
	require.NoError(t, h.srv.Inject(Fault{Kind: FaultServerError, Status: 502}))
	require.Error(t, h.srv.Inject(Fault{Kind: FaultServerError, Status: 404}))

	resp, body := h.call(http.MethodGet, "/work?agent_id=a1&wait=0", nil, nil)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	require.Equal(t, "server_error", errorBody(t, body).Code)
	resp, _ = h.poll(0)
	require.Equal(t, http.StatusBadGateway, resp.StatusCode)
	require.Empty(t, resp.Header.Get("Retry-After"))
	resp, _ = h.poll(0)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Equal(t, 2, h.srv.Counters().Faults[FaultServerError])
}

func TestFaultOnTokenEndpoint(t *testing.T) {
	h := start(t, nil)
	require.NoError(t, h.srv.Inject(Fault{Kind: FaultServerError, PathPrefix: TokenPath}))
	resp, _ := h.fetchToken(testClientID, testSecret)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	resp, _ = h.fetchToken(testClientID, testSecret)
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestFaultSlow(t *testing.T) {
	h := start(t, nil)
	h.login()
	const delay = 300 * time.Millisecond
	require.NoError(t, h.srv.Inject(Fault{Kind: FaultSlow, Delay: delay}))
	began := time.Now()
	resp, _ := h.poll(0)
	require.Equal(t, http.StatusNoContent, resp.StatusCode, "a slow answer is still a real answer")
	require.GreaterOrEqual(t, time.Since(began), delay)

	// A client that gives up first sees a timeout.
	require.NoError(t, h.srv.Inject(Fault{Kind: FaultSlow, Delay: 5 * time.Second}))
	impatient := &http.Client{Transport: h.http.Transport, Timeout: 100 * time.Millisecond}
	req, err := http.NewRequest(http.MethodGet, h.srv.APIURL()+"/work?agent_id=a1&wait=0", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+h.token)
	began = time.Now()
	_, err = impatient.Do(req)
	require.Error(t, err, "answered after %s, faults %+v", time.Since(began), h.srv.Counters())
	require.Equal(t, 2, h.srv.Counters().Faults[FaultSlow])
}

func TestFaultDrop(t *testing.T) {
	h := start(t, nil)
	h.login()
	require.NoError(t, h.srv.Inject(Fault{Kind: FaultDrop, PathPrefix: APIPrefix + "/heartbeat"}))
	req, err := http.NewRequest(http.MethodPost, h.srv.APIURL()+"/heartbeat", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := h.http.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	require.Error(t, err)
	require.True(t, errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isConnReset(err), "want a dropped connection, got %v", err)
	require.Equal(t, 1, h.srv.Counters().Faults[FaultDrop])

	resp2, _ := h.poll(0)
	require.Equal(t, http.StatusNoContent, resp2.StatusCode)
}

func isConnReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

func TestRateLimitHeadersAndEnforcement(t *testing.T) {
	h := start(t, func(o *Options) { o.RateLimit = 3; o.RateWindow = time.Minute })
	h.login()
	for want := 2; want >= 0; want-- {
		resp, _ := h.poll(0)
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
		require.Equal(t, "3", resp.Header.Get("X-RateLimit-Limit"))
		require.Equal(t, strconv.Itoa(want), resp.Header.Get("X-RateLimit-Remaining"))
		require.Equal(t, strconv.FormatInt(h.clock.Now().Add(time.Minute).Unix(), 10), resp.Header.Get("X-RateLimit-Reset"))
	}
	resp, body := h.poll(0)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Equal(t, "61", resp.Header.Get("Retry-After"))
	_ = body
	h.clock.Advance(time.Minute)
	resp, _ = h.poll(0)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
}

func TestInjectRejectsBadFaults(t *testing.T) {
	h := start(t, nil)
	for _, f := range []Fault{{Kind: "melt"}, {Kind: FaultSlow}, {Kind: FaultDrop, Count: -1}} {
		require.Error(t, h.srv.Inject(f), "%+v", f)
	}
	require.Empty(t, h.srv.PendingFaults())
}
