package postgres

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/libs/secret"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/internal/conntest"
	"github.com/stretchr/testify/require"
)

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// silentServer accepts connections and never answers.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

type staticPassword string

func (p staticPassword) Password(context.Context) (secret.Value, error) {
	return secret.New(string(p)), nil
}

func TestServerUnreachable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		addr string
	}{
		{"closed port", closedPort(t)},
		{"server never answers", silentServer(t)},
	}
	const bound = time.Second
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := source()
			src.DSN = "postgres://postgres@" + tc.addr + "/postgres"
			src.ConnectTimeout = bound
			c := open(t, src)

			start := time.Now()
			sink := &conntest.Sink{}
			w, err := model.NewWriter(sink, model.WriterOptions{JobID: "j"})
			require.NoError(t, err)
			_, err = c.Extract(context.Background(), w)
			elapsed := time.Since(start)
			require.Error(t, err)
			require.Less(t, elapsed, bound+time.Second, "connect took %s", elapsed)
			require.ErrorContains(t, err, tc.addr)
			require.ErrorContains(t, err, "check that the server is running")

			start = time.Now()
			checks := c.Preflight(context.Background())
			require.Less(t, time.Since(start), bound+time.Second)
			auth, _ := checkByName(checks, checkAuthentication)
			require.Equal(t, connector.Fail, auth.Status)
			require.Contains(t, auth.Detail, tc.addr)
			require.NotEmpty(t, auth.Remediation)
			for _, name := range []string{checkServerVersion, checkCatalogPrivileges} {
				ch, ok := checkByName(checks, name)
				require.True(t, ok, name)
				require.Equal(t, connector.Fail, ch.Status)
			}
		})
	}
}

func TestWrongPassword(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-Pa55word!"
	fake := newFakeServer(t)
	src := source()
	src.DSN = "postgres://alice@" + fake.addr + "/postgres"

	c, err := Open(context.Background(), src, staticPassword(secret))
	require.NoError(t, err)
	sink := &conntest.Sink{}
	w, err := model.NewWriter(sink, model.WriterOptions{JobID: "j"})
	require.NoError(t, err)
	_, err = c.Extract(context.Background(), w)
	require.Error(t, err)
	require.Equal(t, secret, <-fake.passwords, "the password from the credentials reaches the server")
	require.NotContains(t, err.Error(), secret)
	require.ErrorContains(t, err, `refused user "alice"`)
	require.ErrorContains(t, err, "password in the secret store")

	checks := c.Preflight(context.Background())
	for _, ch := range checks {
		require.NotContains(t, ch.Detail, secret)
		require.NotContains(t, ch.Remediation, secret)
	}
	auth, _ := checkByName(checks, checkAuthentication)
	require.Equal(t, connector.Fail, auth.Status)
}

func TestInlinePassword(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{
		"postgres://postgres:hunter2@127.0.0.1:5432/postgres",
		"postgresql://postgres:hunter%32@127.0.0.1:5432/postgres",
		"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable&password=hunter2",
		"host=127.0.0.1 user=postgres password=hunter2",
		"host=127.0.0.1 user=postgres password = 'hunter 2'",
		"postgres://postgres@127.0.0.1:5432/postgres?passwor%64=hunter2",
		"host=127.0.0.1 user=postgres sslpassword=hunter2",
	} {
		src := source()
		src.DSN = dsn
		_, err := Open(context.Background(), src, nil)
		require.ErrorIs(t, err, connector.ErrInlinePassword, dsn)
		require.NotContains(t, err.Error(), "hunter")

		// Allowed (agentctl's env:NAME form): the trusting test server
		// accepts the connection.
		src.AllowInlinePassword = true
		c, err := Open(context.Background(), src, nil)
		require.NoError(t, err, dsn)
		auth, _ := checkByName(c.Preflight(context.Background()), checkAuthentication)
		require.Equal(t, connector.Pass, auth.Status, "%s: %+v", dsn, auth)
	}
	for _, dsn := range []string{
		"postgres://postgres@127.0.0.1:5432/postgres",
		"postgres://postgres:@127.0.0.1:5432/postgres", // empty password: none
		"host=127.0.0.1 user=postgres application_name='password=x'",
		"host=127.0.0.1 user=postgres passfile=/nonexistent",
	} {
		src := source()
		src.DSN = dsn
		_, err := Open(context.Background(), src, nil)
		require.NoError(t, err, dsn)
	}
}

func TestBadDSN(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{
		"host=127.0.0.1 user='postgres",
		"postgres://postgres@127.0.0.1:notaport/postgres",
		"host=127.0.0.1 sslmode=sometimes",
	} {
		src := source()
		src.DSN = dsn
		_, err := Open(context.Background(), src, nil)
		require.ErrorContains(t, err, "PostgreSQL", dsn)
		require.ErrorContains(t, err, "parse", dsn)
	}
	src := source()
	src.DSN = "postgres://u:hunter2@127.0.0.1:notaport/postgres"
	src.AllowInlinePassword = true
	_, err := Open(context.Background(), src, nil)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2")
}

func TestTLS(t *testing.T) {
	t.Parallel()
	t.Run("prefer uses TLS when offered", func(t *testing.T) {
		auth, _ := checkByName(open(t, source()).Preflight(context.Background()), checkAuthentication)
		require.Equal(t, connector.Pass, auth.Status, "%+v", auth)
		require.Contains(t, auth.Detail, "TLS on")
	})
	t.Run("required and offered", func(t *testing.T) {
		db := newDatabase(t, "CREATE TABLE public.t (id int)")
		src := source(db)
		src.RequireTLS = true
		_, st := extract(t, src, model.WriterOptions{})
		require.Equal(t, QueriesFixed+QueriesPerDatabase, st.Queries)
	})
	t.Run("required, server without TLS", func(t *testing.T) {
		fake := newFakeServer(t)
		src := source()
		src.DSN = "postgres://alice@" + fake.addr + "/postgres"
		src.RequireTLS = true
		auth, _ := checkByName(open(t, src).Preflight(context.Background()), checkAuthentication)
		require.Equal(t, connector.Fail, auth.Status)
		require.Contains(t, auth.Detail, fake.addr)
		require.Contains(t, auth.Detail, "refused TLS, and the source requires TLS")
		select {
		case <-fake.passwords:
			t.Fatal("a password was sent over a plain connection although TLS is required")
		default:
		}
	})
	t.Run("required, DSN disables it", func(t *testing.T) {
		src := source()
		src.DSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
		src.RequireTLS = true
		_, err := Open(context.Background(), src, nil)
		require.ErrorContains(t, err, "requires TLS")
	})
}

func TestCredentialsError(t *testing.T) {
	t.Parallel()
	c, err := Open(context.Background(), source(), failingCredentials{})
	require.NoError(t, err)
	checks := c.Preflight(context.Background())
	auth, _ := checkByName(checks, checkAuthentication)
	require.Equal(t, connector.Fail, auth.Status)
	require.Contains(t, auth.Detail, "secret store")
	w, err := model.NewWriter(&conntest.Sink{}, model.WriterOptions{JobID: "j"})
	require.NoError(t, err)
	_, err = c.Extract(context.Background(), w)
	require.ErrorIs(t, err, errNoSecret)
}

var errNoSecret = errors.New("secret not found")

type failingCredentials struct{}

func (failingCredentials) Password(context.Context) (secret.Value, error) {
	return secret.Value{}, errNoSecret
}
