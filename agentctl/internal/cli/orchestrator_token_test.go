package cli

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/httpserver"
	"github.com/secure-agent/secure-agent/libs/job"
)

const jobAPIToken = "job-api-token-0123456789abcdef0123"

// guardedOrchestrator serves GET /v1/jobs behind the same authentication
// the orchestrator uses (libs/httpserver with client routes).
func guardedOrchestrator(t *testing.T) string {
	t.Helper()
	srv, err := httpserver.New(httpserver.Options{Name: "orchestrator", Addr: "127.0.0.1:0", Auth: httpserver.Auth{
		AppToken: "app-token-not-known-to-agentctl", ClientToken: jobAPIToken, ClientRoutes: []string{"/v1/jobs"},
		ClientHint: "the local stack keeps it in DATA_DIR/api-token",
	}})
	require.NoError(t, err)
	srv.App().Get("/v1/jobs", func(c *fiber.Ctx) error { return c.JSON(job.List{}) })
	ln, err := srv.Listen()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	return "http://" + ln.Addr().String()
}

func writeToken(t *testing.T, dir, token string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o700))
	p := filepath.Join(dir, "api-token")
	require.NoError(t, os.WriteFile(p, []byte(token+"\n"), 0o600))
	return p
}

func TestJobCommandsSendTheAPIToken(t *testing.T) {
	url := guardedOrchestrator(t)
	good := writeToken(t, filepath.Join(t.TempDir(), "good"), jobAPIToken)
	wrongDir := filepath.Join(t.TempDir(), "wrong")
	wrong := writeToken(t, wrongDir, "not-the-job-api-token")

	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"--token-file", nil, []string{"--token-file", good}},
		{"SA_API_TOKEN", map[string]string{tokenEnv: jobAPIToken}, nil},
		{"SA_DATA_DIR", map[string]string{"SA_DATA_DIR": filepath.Dir(good)}, nil},
		{"DATA_DIR", map[string]string{"DATA_DIR": filepath.Dir(good)}, nil},
		{"the flag beats the environment", map[string]string{tokenEnv: "not-the-job-api-token"}, []string{"--token-file", good}},
		{"the environment beats the data dir", map[string]string{tokenEnv: jobAPIToken, "SA_DATA_DIR": wrongDir}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{orchestratorEnv: url}
			for k, v := range tt.env {
				env[k] = v
			}
			r := runCLI(t, env, append([]string{"list"}, tt.args...)...)
			require.Equal(t, ExitOK, r.code, r.stderr)
		})
	}

	t.Run("./data/api-token by default", func(t *testing.T) {
		dir := t.TempDir()
		writeToken(t, filepath.Join(dir, "data"), jobAPIToken)
		t.Chdir(dir)
		r := runCLI(t, map[string]string{orchestratorEnv: url}, "list")
		require.Equal(t, ExitOK, r.code, r.stderr)
	})

	t.Run("no token: the error says where it is and how to pass it", func(t *testing.T) {
		t.Chdir(t.TempDir())
		r := runCLI(t, map[string]string{orchestratorEnv: url}, "list")
		require.Equal(t, ExitFailure, r.code)
		require.Contains(t, r.stderr, "Authorization: Bearer <token>")
		require.Contains(t, r.stderr, "DATA_DIR/api-token")
		require.Contains(t, r.stderr, "agentctl sent no token: data/api-token does not exist")
		require.Contains(t, r.stderr, "--token-file FILE or set SA_API_TOKEN")
	})

	t.Run("a wrong token is named by where it came from, never shown", func(t *testing.T) {
		r := runCLI(t, map[string]string{orchestratorEnv: url}, "list", "--token-file", wrong)
		require.Equal(t, ExitFailure, r.code)
		require.Contains(t, r.stderr, "not this service's token")
		require.Contains(t, r.stderr, "sent the token from --token-file "+wrong)
		require.NotContains(t, r.stderr, "not-the-job-api-token")
		require.NotContains(t, r.stderr, jobAPIToken)
	})

	t.Run("an unreadable --token-file is a command-line problem", func(t *testing.T) {
		r := runCLI(t, map[string]string{orchestratorEnv: url}, "list", "--token-file", filepath.Join(t.TempDir(), "nope"))
		require.Equal(t, ExitUsage, r.code, r.stderr)
		require.Contains(t, r.stderr, "does not exist")
	})
}
