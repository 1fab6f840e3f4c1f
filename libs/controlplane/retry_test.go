package controlplane

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

var okHeartbeat = Heartbeat{AgentID: "a1", Version: "v", Status: AgentOK}

func TestRetryAfterIsHonoured(t *testing.T) {
	h := newHarness(t, "secret-x")
	h.cp.push("POST /heartbeat", scripted{status: http.StatusTooManyRequests, header: map[string]string{"Retry-After": "1"}})
	c := h.client(t)

	require.NoError(t, c.Heartbeat(context.Background(), okHeartbeat))
	hits := h.cp.apiHits("/heartbeat")
	require.Len(t, hits, 2)
	require.GreaterOrEqual(t, hits[1].at.Sub(hits[0].at), time.Second, "never sooner than Retry-After")
	require.InDelta(t, 1, testutil.ToFloat64(c.metrics.retries.WithLabelValues(opHeartbeat)), 0)
}

func TestUnavailableThenSuccess(t *testing.T) {
	h := newHarness(t, "secret-x")
	h.cp.push("POST /leases/lease-9/status", scripted{status: http.StatusServiceUnavailable}, scripted{status: http.StatusBadGateway})
	c := h.client(t)

	require.NoError(t, c.ReportStatus(context.Background(), "lease-9", StatusReport{State: StateRunning}))
	require.Len(t, h.cp.apiHits("/leases/lease-9/status"), 3)
	require.InDelta(t, 2, testutil.ToFloat64(c.metrics.retries.WithLabelValues(opStatus)), 0)
	require.InDelta(t, 1, testutil.ToFloat64(c.metrics.requests.WithLabelValues(opStatus, "2xx")), 0)
	require.InDelta(t, 2, testutil.ToFloat64(c.metrics.requests.WithLabelValues(opStatus, "5xx")), 0)
}

func TestDroppedConnectionThenSuccess(t *testing.T) {
	h := newHarness(t, "secret-x")
	h.cp.push("POST /leases/lease-9/status", scripted{drop: true})
	c := h.client(t)

	require.NoError(t, c.ReportStatus(context.Background(), "lease-9", StatusReport{State: StateRunning}))
	require.Len(t, h.cp.apiHits("/leases/lease-9/status"), 2, "the body was sent again")
	require.InDelta(t, 1, testutil.ToFloat64(c.metrics.retries.WithLabelValues(opStatus)), 0)
	require.InDelta(t, 1, testutil.ToFloat64(c.metrics.requests.WithLabelValues(opStatus, "error")), 0)
}

func TestRetriesExhaustedIsTransient(t *testing.T) {
	h := newHarness(t, "secret-x")
	h.opts.MaxRetries = 2
	for range 3 {
		h.cp.push("POST /heartbeat", scripted{status: http.StatusServiceUnavailable})
	}
	c := h.client(t)

	err := c.Heartbeat(context.Background(), okHeartbeat)
	require.Error(t, err)
	require.Equal(t, errkind.Transient, errkind.Of(err))
	var se *StatusError
	require.True(t, errors.As(err, &se))
	require.Equal(t, http.StatusServiceUnavailable, se.Status)
	require.Equal(t, "req-503-scripted", se.RequestID)
	require.Contains(t, err.Error(), "scripted answer 503")
	require.Len(t, h.cp.apiHits("/heartbeat"), 3)
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name  string
		value string
		want  time.Duration
	}{
		{"absent", "", 0},
		{"seconds", "7", 7 * time.Second},
		{"negative", "-3", 0},
		{"http date", now.Add(3 * time.Second).Format(http.TimeFormat), 4 * time.Second},
		{"date in the past", now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"garbage", "soon", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.value != "" {
				h.Set("Retry-After", tt.value)
			}
			got := retryAfter(h, now)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestBackoffIsBoundedFullJitter(t *testing.T) {
	base, maxWait := 100*time.Millisecond, time.Second
	for attempt := range 40 {
		ceil := min(base<<min(attempt, 20), maxWait)
		for range 50 {
			d := backoff(base, maxWait, attempt)
			require.GreaterOrEqual(t, d, time.Duration(0))
			require.LessOrEqual(t, d, ceil)
		}
	}
}

func TestRateLimitSpacesRequests(t *testing.T) {
	h := newHarness(t, "secret-x")
	h.opts.RateLimit = RateLimit{PerSecond: 5, Burst: 1}
	c := h.client(t)

	for range 3 {
		require.NoError(t, c.Heartbeat(context.Background(), okHeartbeat))
	}
	hits, _ := h.cp.snapshot()
	require.Len(t, hits, 4, "the token request is limited too")
	for i := 1; i < len(hits); i++ {
		require.GreaterOrEqual(t, hits[i].at.Sub(hits[i-1].at), 150*time.Millisecond, "request %d", i)
	}
	require.GreaterOrEqual(t, hits[3].at.Sub(hits[0].at), 550*time.Millisecond)
}

func TestExhaustedServerQuotaPausesUntilReset(t *testing.T) {
	h := newHarness(t, "secret-x")
	reset := time.Now().Unix() + 2
	h.cp.push("POST /heartbeat", scripted{header: map[string]string{
		"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": strconv.FormatInt(reset, 10)}})
	c := h.client(t)

	require.NoError(t, c.Heartbeat(context.Background(), okHeartbeat))
	require.NoError(t, c.Heartbeat(context.Background(), okHeartbeat))
	hits := h.cp.apiHits("/heartbeat")
	require.Len(t, hits, 2)
	require.False(t, hits[1].at.Before(time.Unix(reset, 0)), "the second request waits for X-RateLimit-Reset")
}
