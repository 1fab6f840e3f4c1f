package controlplane

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

func TestHostOutsideAllowlistIsNeverDialed(t *testing.T) {
	h := newHarness(t, "secret-x")
	target := newCountingListener(t)
	url := fmt.Sprintf("https://127.0.0.1:%d", target.port())
	h.opts.BaseURL, h.opts.TokenURL = url+apiPrefix, url+"/token"
	h.opts.AllowedHosts = []string{"controlplane.example.com"}
	c := h.client(t)

	err := c.Heartbeat(context.Background(), okHeartbeat)
	require.Error(t, err)
	require.Equal(t, errkind.Invalid, errkind.Of(err))
	require.Contains(t, err.Error(), `refused connection to "127.0.0.1"`)
	t.Log(err)
	require.Contains(t, err.Error(), "allowed hosts")
	require.Zero(t, target.accepts.Load(), "no TCP connection may be made")
	require.InDelta(t, 1, testutil.ToFloat64(c.metrics.refused), 0)
	_, fetches := h.cp.snapshot()
	require.Zero(t, fetches)
}

func TestRedirectToHostOutsideAllowlistIsRefused(t *testing.T) {
	h := newHarness(t, "secret-x")
	target := newCountingListener(t)
	h.cp.set(func(f *fakeControlPlane) { f.redirectTo = fmt.Sprintf("https://localhost:%d/steal", target.port()) })
	c := h.client(t)

	err := c.Heartbeat(context.Background(), okHeartbeat)
	require.Error(t, err)
	require.Equal(t, errkind.Invalid, errkind.Of(err))
	require.Contains(t, err.Error(), `refused connection to "localhost"`)
	require.Zero(t, target.accepts.Load())
	require.Len(t, h.cp.apiHits("/heartbeat"), 1, "a refusal is not retried")
}

// connectProxy is a real CONNECT proxy that records the targets it was asked for.
type connectProxy struct {
	ln      net.Listener
	accepts atomic.Int64
	mu      sync.Mutex
	targets []string
}

func newConnectProxy(t *testing.T) *connectProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &connectProxy{ln: ln}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			p.accepts.Add(1)
			go p.handle(conn)
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return p
}

func (p *connectProxy) handle(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	req, err := http.ReadRequest(br)
	if err != nil || req.Method != http.MethodConnect {
		return
	}
	p.mu.Lock()
	p.targets = append(p.targets, req.Host)
	p.mu.Unlock()
	up, err := net.Dial("tcp", req.Host)
	if err != nil {
		_, _ = io.WriteString(conn, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
		return
	}
	defer up.Close()
	_, _ = io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, br); done <- struct{}{} }()
	go func() { _, _ = io.Copy(conn, up); done <- struct{}{} }()
	<-done
}

func (p *connectProxy) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.targets...)
}

func TestProxyTunnelsAllowedHosts(t *testing.T) {
	h := newHarness(t, "secret-x")
	proxy := newConnectProxy(t)
	h.opts.ProxyURL = "http://" + proxy.ln.Addr().String()
	c := h.client(t)

	require.NoError(t, c.Heartbeat(context.Background(), okHeartbeat))
	require.NotEmpty(t, proxy.seen())
	require.Equal(t, h.cp.srv.Listener.Addr().String(), proxy.seen()[0])
}

func TestProxyIsNotAskedForHostsOutsideAllowlist(t *testing.T) {
	h := newHarness(t, "secret-x")
	proxy := newConnectProxy(t)
	h.opts.ProxyURL = "http://" + proxy.ln.Addr().String()
	h.opts.AllowedHosts = []string{"controlplane.example.com"}
	c := h.client(t)

	err := c.Heartbeat(context.Background(), okHeartbeat)
	require.Error(t, err)
	require.Equal(t, errkind.Invalid, errkind.Of(err))
	require.Zero(t, proxy.accepts.Load(), "the proxy must not even be connected to")
}

func TestAllowlistMatching(t *testing.T) {
	a := newAllowlist([]string{"Tenant.Example.com", "*.atlan.com", "10.0.0.5"})
	tests := []struct {
		host string
		want bool
	}{
		{"tenant.example.com", true},
		{"tenant.example.com.", true},
		{"other.example.com", false},
		{"x.atlan.com", true},
		{"a.b.atlan.com", true},
		{"atlan.com", false},
		{"evilatlan.com", false},
		{"10.0.0.5", true},
		{"10.0.0.6", false},
		{"", false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, a.allows(tt.host), tt.host)
	}
}
