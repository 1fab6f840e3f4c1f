package controlplane

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

func TestTLS11OnlyServerIsRefused(t *testing.T) {
	h := newHarness(t, "secret-x")
	old := newFakeControlPlane(t, "secret-x", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	h.opts.BaseURL, h.opts.TokenURL = old.srv.URL+apiPrefix, old.srv.URL+"/token"
	h.opts.RootCAs = old.pool()
	c := h.client(t)

	err := c.Heartbeat(context.Background(), okHeartbeat)
	require.Error(t, err)
	require.Equal(t, errkind.Unauthorized, errkind.Of(err))
	require.Contains(t, err.Error(), "TLS 1.2 or later")
	t.Log(err)
	hits, _ := old.snapshot()
	require.Empty(t, hits, "no request may reach a TLS 1.1 server")
}

func TestUntrustedServerIsRefused(t *testing.T) {
	h := newHarness(t, "secret-x")
	h.opts.RootCAs = nil // system roots do not know httptest's CA
	c := h.client(t)

	err := c.Heartbeat(context.Background(), okHeartbeat)
	require.Error(t, err)
	require.Equal(t, errkind.Unauthorized, errkind.Of(err))
	require.Contains(t, err.Error(), "certificate is not trusted")
}

func TestPinnedKey(t *testing.T) {
	h := newHarness(t, "secret-x")
	sum := h.cp.spkiSHA256()
	other := sum
	other[0] ^= 0xff
	tests := []struct {
		name string
		pins []string
		ok   bool
	}{
		{"base64 match", []string{base64.StdEncoding.EncodeToString(sum[:])}, true},
		{"hex match among others", []string{hex.EncodeToString(other[:]), hex.EncodeToString(sum[:])}, true},
		{"mismatch", []string{base64.StdEncoding.EncodeToString(other[:])}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := h.opts
			opts.Registerer = nil
			opts.PinnedSPKISHA256 = tt.pins
			c, err := New(opts)
			require.NoError(t, err)
			before, _ := h.cp.snapshot()
			err = c.Heartbeat(context.Background(), okHeartbeat)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Equal(t, errkind.Unauthorized, errkind.Of(err))
			require.Contains(t, err.Error(), "pinned")
			t.Log(err)
			after, _ := h.cp.snapshot()
			require.Len(t, after, len(before), "nothing is sent to an unpinned server")
		})
	}
}
