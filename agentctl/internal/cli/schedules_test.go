package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func writeSpecFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "spec.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

const plainSpec = "version: 1\nname: nightly\nconnection: default/sqlite/1\nsource: {kind: sqlite, dsn: /tmp/x.db}\n"

// Nothing here reaches an orchestrator: each mistake is caught first.
func TestSchedulesRefusesMistakesBeforeCallingTheOrchestrator(t *testing.T) {
	env := map[string]string{"SA_ORCHESTRATOR_URL": "http://127.0.0.1:1", "SA_API_TOKEN": "0123456789abcdef0123456789abcdef"}

	r := runCLI(t, env, "schedules", "pause", "x")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, `"pause" is not a schedules action: use `+"`schedules`"+` to list, `+"`schedules add SPEC`")

	r = runCLI(t, env, "schedules", "add")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "schedules add takes one SPEC")

	r = runCLI(t, env, "schedules", "delete", "Bad_Name")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, `"Bad_Name" is not a schedule name`)

	plain := writeSpecFile(t, plainSpec)
	r = runCLI(t, env, "schedules", "add", plain)
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, plain+" has no schedule: add schedule:")

	bad := writeSpecFile(t, plainSpec+"schedule: {cron: '0 0 2 * * *'}\n")
	r = runCLI(t, env, "schedules", "add", bad)
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, `schedule.cron: "0 0 2 * * *" has 6 fields; write five`)

	scheduled := writeSpecFile(t, plainSpec+"schedule: {every: 6h}\n")
	r = runCLI(t, env, "run", scheduled)
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, scheduled+" has a schedule (every 6h0m0s): register it with `agentctl schedules add "+scheduled+"`")
}
