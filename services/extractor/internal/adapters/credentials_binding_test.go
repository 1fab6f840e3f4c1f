package adapters

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	dapr "github.com/dapr/go-sdk/client"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/daprtest"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/mysql"
	"github.com/secure-agent/secure-agent/services/extractor/connector/postgres"
)

// fakePostgres asks every client for a cleartext password, as a hostile
// server on the agent's host would, and records every connection and
// password it gets.
type fakePostgres struct {
	addr      string
	accepted  atomic.Int64
	passwords chan string
}

func newFakePostgres(t *testing.T) *fakePostgres {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	f := &fakePostgres{addr: ln.Addr().String(), passwords: make(chan string, 16)}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			f.accepted.Add(1)
			go f.serve(conn)
		}
	}()
	return f
}

func (f *fakePostgres) serve(conn net.Conn) {
	defer func() { _ = conn.Close() }()
	be := pgproto3.NewBackend(conn, conn)
	msg, err := be.ReceiveStartupMessage()
	if err != nil {
		return
	}
	if _, ok := msg.(*pgproto3.SSLRequest); ok {
		if _, err := conn.Write([]byte{'N'}); err != nil {
			return
		}
		if msg, err = be.ReceiveStartupMessage(); err != nil {
			return
		}
	}
	if _, ok := msg.(*pgproto3.StartupMessage); !ok {
		return
	}
	be.Send(&pgproto3.AuthenticationCleartextPassword{})
	if be.Flush() != nil || be.SetAuthType(pgproto3.AuthTypeCleartextPassword) != nil {
		return
	}
	if msg, err = be.Receive(); err != nil {
		return
	}
	if pw, ok := msg.(*pgproto3.PasswordMessage); ok {
		f.passwords <- pw.Password
	}
	be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", Code: "28P01", Message: "password authentication failed"})
	_ = be.Flush()
}

// countingListener accepts TCP connections and closes them at once,
// counting them: a MySQL server that never gets to ask for anything.
func countingListener(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			_ = c.Close()
		}
	}()
	return ln.Addr().String(), &n
}

// bindingSidecar is a real daprd with the extractor's secret scopes and two
// local file stores: "secrets" as the stack runs it (single-valued,
// nestedSeparator ":") and "vaultlike", multi-valued, where a secret is a
// map of fields like in Vault or Kubernetes.
func bindingSidecar(t *testing.T, secrets map[string]any) dapr.Client {
	t.Helper()
	file := filepath.Join(t.TempDir(), "secrets.json")
	raw, err := json.Marshal(secrets)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(file, raw, 0o600))
	config, err := os.ReadFile(filepath.Join(repoRoot(t), "components", "config", "extractor.yaml"))
	require.NoError(t, err)
	multi := strings.Replace(daprtest.LocalFileSecretStore("vaultlike", file), "  metadata:\n", "  metadata:\n    - name: multiValued\n      value: \"true\"\n", 1)
	sc := daprtest.Start(t, daprtest.Options{AppID: "extractor", Config: string(config), Resources: map[string]string{
		"secrets.yaml": daprtest.LocalFileSecretStore("secrets", file), "vaultlike.yaml": multi,
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client, err := dapr.NewClientWithAddressContext(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(sc.GRPCPort)))
	require.NoError(t, err)
	t.Cleanup(client.Close)
	return client
}

func TestSecretsAreHandedOutOnlyForBoundHosts(t *testing.T) {
	const pw = "bound-canary-password-7f3a"
	client := bindingSidecar(t, map[string]any{
		"flat-password":                pw,
		"flat-password:allowed_hosts":  "DB.internal:5432, 127.0.0.1:5433 [::1]:5434,unix:/run/postgresql/.s.PGSQL.5432",
		"nested":                       map[string]string{"password": pw, "allowed_hosts": "nested.internal:3306"},
		"unbound-password":             pw,
		"bad-password":                 pw,
		"bad-password:allowed_hosts":   "db.internal, *:5432, db:99999",
		"empty-password":               pw,
		"empty-password:allowed_hosts": " , ",
		"vault-db":                     map[string]string{"password": pw, "allowed_hosts": "vault-db.internal:5432"},
		"vault-unbound":                map[string]string{"password": pw},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	creds := func(ref SecretRef) *SecretCredentials {
		c, err := NewSecretCredentials(client, ref)
		require.NoError(t, err)
		return c
	}
	tcp := connector.TCPTarget

	for name, c := range map[string]struct {
		ref SecretRef
		to  []connector.Target
	}{
		"flat key, host name in another case": {SecretRef{Store: "secrets", Key: "flat-password"}, []connector.Target{tcp("db.INTERNAL.:5432")}},
		"flat key, several targets":           {SecretRef{Store: "secrets", Key: "flat-password"}, []connector.Target{tcp("127.0.0.1:5433"), tcp("[::1]:5434")}},
		"flat key, socket":                    {SecretRef{Store: "secrets", Key: "flat-password"}, []connector.Target{connector.UnixTarget("/run/postgresql//.s.PGSQL.5432")}},
		"nested object in secrets.json":       {SecretRef{Store: "secrets", Key: "nested:password"}, []connector.Target{tcp("nested.internal:3306")}},
		"field of a multi-valued secret":      {SecretRef{Store: "vaultlike", Key: "vault-db", Field: "password"}, []connector.Target{tcp("vault-db.internal:5432")}},
	} {
		t.Run("allowed: "+name, func(t *testing.T) {
			got, err := creds(c.ref).PasswordFor(ctx, c.to)
			require.NoError(t, err)
			require.Equal(t, pw, got.Reveal())
		})
	}

	for name, c := range map[string]struct {
		ref  SecretRef
		to   []connector.Target
		kind errkind.Kind
		says []string
	}{
		"host not in the binding": {SecretRef{Store: "secrets", Key: "flat-password"}, []connector.Target{tcp("127.0.0.1:5432")}, errkind.Unauthorized,
			[]string{`secret "flat-password" in store "secrets" may only be sent to DB.internal:5432, 127.0.0.1:5433`, "would send it to 127.0.0.1:5432",
				"nothing was sent", `key "flat-password:allowed_hosts"`}},
		"one of several targets outside": {SecretRef{Store: "secrets", Key: "flat-password"}, []connector.Target{tcp("127.0.0.1:5433"), tcp("10.0.0.9:5433")},
			errkind.Unauthorized, []string{"would send it to 10.0.0.9:5433,"}},
		"name versus address": {SecretRef{Store: "secrets", Key: "nested:password"}, []connector.Target{tcp("127.0.0.1:3306")}, errkind.Unauthorized,
			[]string{`key "nested:allowed_hosts"`}},
		"no binding at all": {SecretRef{Store: "secrets", Key: "unbound-password"}, []connector.Target{tcp("127.0.0.1:5433")}, errkind.Unauthorized,
			[]string{`secret "unbound-password" in store "secrets" is not bound to any host`, "not sent to 127.0.0.1:5433",
				`the key "unbound-password:allowed_hosts"`, "a field allowed_hosts in the secret", `e.g. "127.0.0.1:5433"`}},
		"no binding in a multi-valued store": {SecretRef{Store: "vaultlike", Key: "vault-unbound", Field: "password"}, []connector.Target{tcp("127.0.0.1:5433")}, errkind.Unauthorized,
			[]string{"is not bound to any host"}},
		"invalid entries": {SecretRef{Store: "secrets", Key: "bad-password"}, []connector.Target{tcp("db.internal:5432")}, errkind.Invalid,
			[]string{`"db.internal" (not host:port)`, `"*:5432" (wildcards are not supported`, `"db:99999" (the port is not a number from 1 to 65535)`}},
		"empty binding": {SecretRef{Store: "secrets", Key: "empty-password"}, []connector.Target{tcp("db.internal:5432")}, errkind.Unauthorized,
			[]string{"is empty, so the secret is sent nowhere"}},
		"no destination": {SecretRef{Store: "secrets", Key: "flat-password"}, nil, errkind.Internal, []string{"no destination"}},
	} {
		t.Run("refused: "+name, func(t *testing.T) {
			got, err := creds(c.ref).PasswordFor(ctx, c.to)
			require.Error(t, err)
			require.Empty(t, got)
			require.Equal(t, c.kind, errkind.Of(err), "%v", err)
			for _, s := range c.says {
				require.Contains(t, err.Error(), s)
			}
			require.NotContains(t, err.Error(), pw)
		})
	}

	t.Run("a connector that does not name its destination gets nothing", func(t *testing.T) {
		got, err := creds(SecretRef{Store: "secrets", Key: "flat-password"}).Password(ctx)
		require.Error(t, err)
		require.Empty(t, got)
		require.Contains(t, err.Error(), "is bound to hosts")
	})
}

// TestABoundSecretNeverReachesAnUnboundServer is the attack of issue 10:
// a job pairs a stored password with a host of its choosing, a server
// there asks for a cleartext password. With the binding not listing that
// host, the server gets no connection at all; listed, it gets the password
// (so the fake would notice).
func TestABoundSecretNeverReachesAnUnboundServer(t *testing.T) {
	const pw = "mariadb-canary-password-91c2"
	fake := newFakePostgres(t)
	myAddr, myAccepted := countingListener(t)
	client := bindingSidecar(t, map[string]any{
		"mariadb-password":               pw,
		"mariadb-password:allowed_hosts": "127.0.0.1:3306",
		"fake-password":                  pw,
		"fake-password:allowed_hosts":    fake.addr,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	source, err := NewSecretSource(client)
	require.NoError(t, err)

	pgSrc := connector.Source{Kind: "postgres", Connection: "default/postgres/1", DSN: "postgres://reader@" + fake.addr + "/app?sslmode=disable"}
	creds, err := source.For(&job.SecretRef{Store: "secrets", Key: "mariadb-password"})
	require.NoError(t, err)
	conn, err := postgres.Open(ctx, pgSrc, creds)
	require.NoError(t, err)
	checks := conn.Preflight(ctx)
	require.NotEmpty(t, checks)
	require.Equal(t, connector.Fail, checks[0].Status, "%+v", checks)
	require.Contains(t, checks[0].Detail+checks[0].Remediation, `"mariadb-password"`)
	require.Contains(t, checks[0].Detail+checks[0].Remediation, fake.addr)
	w, err := model.NewWriter(nopSink{}, model.WriterOptions{JobID: "j-1"})
	require.NoError(t, err)
	_, err = conn.Extract(ctx, w)
	require.ErrorContains(t, err, "may only be sent to 127.0.0.1:3306")
	require.NotContains(t, err.Error(), pw)
	require.Zero(t, fake.accepted.Load(), "the unbound server got a connection")

	mySrc := connector.Source{Kind: "mysql", Connection: "default/mysql/1", DSN: "reader@tcp(" + myAddr + ")/"}
	my, err := mysql.Open(ctx, mySrc, creds)
	require.NoError(t, err)
	defer my.Close()
	checks = my.Preflight(ctx)
	require.Equal(t, connector.Fail, checks[0].Status, "%+v", checks)
	require.Contains(t, checks[0].Detail, myAddr)
	require.Zero(t, myAccepted.Load(), "the unbound MySQL address got a connection")

	// The control: bound to the fake, the password does go there.
	bound, err := source.For(&job.SecretRef{Store: "secrets", Key: "fake-password"})
	require.NoError(t, err)
	conn, err = postgres.Open(ctx, pgSrc, bound)
	require.NoError(t, err)
	_ = conn.Preflight(ctx)
	require.Positive(t, fake.accepted.Load())
	select {
	case got := <-fake.passwords:
		require.Equal(t, pw, got)
	case <-time.After(10 * time.Second):
		t.Fatal("the bound server never got the password: this test could not notice a leak")
	}
}

type nopSink struct{}

func (nopSink) WriteRecord(model.Kind, arrow.Record) error { return nil }
