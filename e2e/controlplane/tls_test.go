package controlplane

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTLSCAPEMTrust(t *testing.T) {
	h := start(t, nil)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(h.srv.CAPEM()))
	for _, host := range []string{"127.0.0.1", "localhost"} {
		_, port, err := net.SplitHostPort(h.srv.ln.Addr().String())
		require.NoError(t, err)
		conn, err := tls.Dial("tcp", net.JoinHostPort(host, port), &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
		require.NoError(t, err, host)
		require.GreaterOrEqual(t, conn.ConnectionState().Version, uint16(tls.VersionTLS12))
		require.NoError(t, conn.Close())
	}
	// Without the CA the certificate is not trusted.
	resp, err := http.Get(h.srv.TokenURL())
	if err == nil {
		resp.Body.Close()
	}
	var unknown x509.UnknownAuthorityError
	require.ErrorAs(t, err, &unknown)
}

func TestTLS11OnlyRefusesModernClient(t *testing.T) {
	h := start(t, func(o *Options) { o.TLS11Only = true })
	addr := h.srv.ln.Addr().String()

	_, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: h.srv.CertPool(), MinVersion: tls.VersionTLS12})
	require.Error(t, err, "a TLS 1.2+ client must refuse the server")

	resp, err := h.http.Get(h.srv.TokenURL())
	if err == nil {
		resp.Body.Close()
	}
	require.Error(t, err, "an HTTPS client with the default minimum (TLS 1.2) must refuse the server")

	// The server really serves TLS 1.1, so the refusal is the client's.
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: h.srv.CertPool(), MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	require.NoError(t, err)
	require.Equal(t, uint16(tls.VersionTLS11), conn.ConnectionState().Version)
	require.NoError(t, conn.Close())
}
