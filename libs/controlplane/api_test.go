package controlplane

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

func TestPollWork(t *testing.T) {
	h := newHarness(t, "secret-x")
	c := h.client(t)
	ctx := context.Background()

	lease, err := c.PollWork(ctx, "agent-1", 2*time.Second)
	require.NoError(t, err)
	require.Equal(t, "lease-1", lease.LeaseID)
	require.Equal(t, "job-1", lease.JobID)
	require.WithinDuration(t, time.Now().Add(time.Minute), lease.ExpiresAt, 5*time.Second)
	require.JSONEq(t, `{"source":{"kind":"postgres"}}`, string(lease.Spec))

	h.cp.set(func(f *fakeControlPlane) { f.noWork = true })
	lease, err = c.PollWork(ctx, "agent-1", 0)
	require.NoError(t, err)
	require.Nil(t, lease, "204 means no work")
}

func TestLeaseOperations(t *testing.T) {
	h := newHarness(t, "secret-x")
	c := h.client(t)
	ctx := context.Background()

	lease, err := c.RenewLease(ctx, "lease-7")
	require.NoError(t, err)
	require.Equal(t, "lease-7", lease.LeaseID)
	require.NoError(t, c.ReportStatus(ctx, "lease-7", StatusReport{State: StateSucceeded, Assets: 3, Rows: map[string]int64{"table": 3}}))
	require.NoError(t, c.ReleaseLease(ctx, "lease-7", "agent stopping"))
}

func TestErrorKinds(t *testing.T) {
	h := newHarness(t, "secret-x")
	c := h.client(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		call   func() error
		kind   errkind.Kind
		status int
		reqID  string
	}{
		{"409 lease lost", func() error { _, err := c.RenewLease(ctx, "lost"); return err }, errkind.Conflict, 409, "req-409-lease_lost"},
		{"404 unknown lease", func() error { _, err := c.RenewLease(ctx, "unknown"); return err }, errkind.NotFound, 404, "req-404-not_found"},
		{"400 invalid", func() error { _, err := c.PollWork(ctx, "agent-1", 0); return err }, errkind.Invalid, 400, "req-400-scripted"},
		{"403 forbidden", func() error { return c.Heartbeat(ctx, okHeartbeat) }, errkind.Unauthorized, 403, "req-403-scripted"},
		{"500 not retried", func() error { return c.ReleaseLease(ctx, "l", "") }, errkind.Transient, 500, "req-500-scripted"},
	}
	h.cp.push("GET /work", scripted{status: http.StatusBadRequest})
	h.cp.push("POST /heartbeat", scripted{status: http.StatusForbidden})
	h.cp.push("POST /leases/l/release", scripted{status: http.StatusInternalServerError})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			require.Error(t, err)
			require.Equal(t, tt.kind, errkind.Of(err))
			var se *StatusError
			require.True(t, errors.As(err, &se))
			require.Equal(t, tt.status, se.Status)
			require.Equal(t, tt.reqID, se.RequestID)
			require.Contains(t, err.Error(), tt.reqID)
		})
	}
	require.Len(t, h.cp.apiHits("/leases/l/release"), 1)
}

func TestUploadLogs(t *testing.T) {
	h := newHarness(t, "secret-x")
	c := h.client(t)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	require.NoError(t, json.NewEncoder(zw).Encode(LogLine{TS: time.Now(), Level: "info", Msg: "hello"}))
	require.NoError(t, zw.Close())

	require.NoError(t, c.UploadLogs(context.Background(), "job-1", 4, 2, buf.Bytes()))
	h.cp.mu.Lock()
	defer h.cp.mu.Unlock()
	require.Len(t, h.cp.logHeaders, 1)
	got := h.cp.logHeaders[0]
	require.Equal(t, "4", got.Get("X-Batch-Sequence"))
	require.Equal(t, "2", got.Get("X-Dropped-Lines"))
	require.Equal(t, "gzip", got.Get("Content-Encoding"))
	require.Equal(t, "application/x-ndjson", got.Get("Content-Type"))
}

func TestFilesAndManifest(t *testing.T) {
	h := newHarness(t, "secret-x")
	c := h.client(t)
	ctx := context.Background()
	body := []byte("arrow stream bytes")
	sum := sha256.Sum256(body)
	sha := hex.EncodeToString(sum[:])

	has, err := c.HasFile(ctx, "job-1", sha)
	require.NoError(t, err)
	require.False(t, has)
	receipt, err := c.IngestFile(ctx, "job-1", sha, "p000/table-000.arrows", "table", 12, body)
	require.NoError(t, err)
	require.NotEmpty(t, receipt)
	again, err := c.IngestFile(ctx, "job-1", sha, "p000/table-000.arrows", "table", 12, body)
	require.NoError(t, err, "idempotent by sha256")
	require.Equal(t, receipt, again, "a repeated upload answers the same receipt")
	has, err = c.HasFile(ctx, "job-1", sha)
	require.NoError(t, err)
	require.True(t, has)
	require.NoError(t, c.IngestManifest(ctx, "job-1", []byte(`{"files":[]}`)))
}

func TestInvalidArgumentsAreRefusedLocally(t *testing.T) {
	h := newHarness(t, "secret-x")
	c := h.client(t)
	ctx := context.Background()
	sum := sha256.Sum256([]byte("x"))
	sha := hex.EncodeToString(sum[:])
	tests := map[string]error{
		"poll without agent":    func() error { _, err := c.PollWork(ctx, "", 0); return err }(),
		"status without state":  c.ReportStatus(ctx, "l", StatusReport{}),
		"negative log sequence": c.UploadLogs(ctx, "j", -1, 0, []byte{1}),
		"oversized log batch":   c.UploadLogs(ctx, "j", 0, 0, make([]byte, maxLogBatch+1)),
		"bad sha":               func() error { _, err := c.HasFile(ctx, "j", "ABC"); return err }(),
		"body differs from sha": func() error { _, err := c.IngestFile(ctx, "j", sha, "n", "table", 1, []byte("y")); return err }(),
		"manifest not json":     c.IngestManifest(ctx, "j", []byte("{")),
	}
	for name, err := range tests {
		require.Error(t, err, name)
		require.Equal(t, errkind.Invalid, errkind.Of(err), name)
	}
	hits, _ := h.cp.snapshot()
	require.Empty(t, hits, "nothing was sent")
}

func TestOptionsValidation(t *testing.T) {
	_, err := New(Options{BaseURL: "http://x", PinnedSPKISHA256: []string{"nope"}, AllowedHosts: []string{"https://a:443"}, ProxyURL: "socks5://p"})
	require.Error(t, err)
	require.Equal(t, errkind.Invalid, errkind.Of(err))
	for _, want := range []string{"BaseURL must be an https", "TokenURL is required", "ClientIDRef", "ClientSecretRef",
		"Secrets", "AllowedHosts entry", "PinnedSPKISHA256 entry", "ProxyURL"} {
		require.Contains(t, err.Error(), want)
	}

	h := newHarness(t, "secret-x")
	_, err = New(h.opts)
	require.NoError(t, err)
	_, err = New(h.opts)
	require.Error(t, err, "registering the metrics twice on one registry is reported")
	h.opts.Registerer = nil
	_, err = New(h.opts)
	require.NoError(t, err, "a nil registerer is fine")
}
