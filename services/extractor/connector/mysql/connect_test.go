package mysql

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/libs/secret"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// silentServer accepts connections and never answers, like a server that
// hangs or a firewall that lets the handshake through and drops the rest.
func silentServer(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

func TestServerUnreachable(t *testing.T) {
	const timeout = time.Second
	tests := []struct {
		name, addr, want string
	}{
		{"closed port", closedPort(t), "connection refused"},
		{"silent server", silentServer(t), "no answer within 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := connector.Source{Kind: "mysql", Connection: testConnection, DSN: "root@tcp(" + tt.addr + ")/",
				ConnectTimeout: timeout}

			start := time.Now()
			_, _, err := tryExtract(t, src, nil, model.WriterOptions{})
			elapsed := time.Since(start)
			require.Error(t, err)
			require.Less(t, elapsed, timeout+time.Second, "extract must give up within the connect timeout")
			require.ErrorContains(t, err, tt.addr)
			require.ErrorContains(t, err, tt.want)
			require.ErrorContains(t, err, "check the host and port")

			start = time.Now()
			checks := preflight(t, src, nil)
			require.Less(t, time.Since(start), timeout+time.Second, "preflight must give up within the connect timeout")
			auth := checks[CheckAuthentication]
			require.Equal(t, connector.Fail, auth.Status)
			require.Contains(t, auth.Detail, tt.addr)
			require.Contains(t, auth.Remediation, "check the host and port")
		})
	}
}

func TestWrongPasswordIsNotInError(t *testing.T) {
	const secret = "Wr0ng-s3cret-p4ss"
	src := connector.Source{Kind: "mysql", Connection: testConnection, DSN: serverDSN()}
	_, _, err := tryExtract(t, src, password(secret), model.WriterOptions{})
	require.Error(t, err)
	require.ErrorContains(t, err, "Access denied")
	require.ErrorContains(t, err, "check the user name and the password")
	require.NotContains(t, err.Error(), secret)

	auth := preflight(t, src, password(secret))[CheckAuthentication]
	require.Equal(t, connector.Fail, auth.Status)
	require.NotContains(t, auth.Detail+auth.Remediation, secret)
}

type failingCreds struct{}

func (failingCreds) Password(context.Context) (secret.Value, error) {
	return secret.Value{}, errors.New("secret store: key mysql-password not found")
}

func TestCredentialsErrorIsReported(t *testing.T) {
	src := connector.Source{Kind: "mysql", Connection: testConnection, DSN: serverDSN()}
	_, _, err := tryExtract(t, src, failingCreds{}, model.WriterOptions{})
	require.ErrorContains(t, err, "read the source password: secret store: key mysql-password not found")
}

func TestRequireTLSAgainstPlaintextServer(t *testing.T) {
	src := connector.Source{Kind: "mysql", Connection: testConnection, DSN: serverDSN(), RequireTLS: true}
	_, _, err := tryExtract(t, src, nil, model.WriterOptions{})
	require.ErrorContains(t, err, "the server does not offer TLS, but the source requires it")
	require.ErrorContains(t, err, "enable TLS on the server")
}

func TestInlinePassword(t *testing.T) {
	dsn := strings.Replace(serverDSN(), "@", ":inline-pw@", 1)
	src := connector.Source{Kind: "mysql", Connection: testConnection, DSN: dsn}
	_, err := Open(t.Context(), src, nil)
	require.ErrorIs(t, err, connector.ErrInlinePassword)
	require.NotContains(t, err.Error(), "inline-pw")

	src.DSN = "mysql://root:inline-pw@127.0.0.1:3306/"
	_, err = Open(t.Context(), src, nil)
	require.ErrorIs(t, err, connector.ErrInlinePassword)

	// Allowed: the inline password is used (root has none, so the login
	// fails, and the error does not show the password).
	src.DSN = dsn
	src.AllowInlinePassword = true
	_, _, err = tryExtract(t, src, nil, model.WriterOptions{})
	require.ErrorContains(t, err, "Access denied")
	require.NotContains(t, err.Error(), "inline-pw")
}
