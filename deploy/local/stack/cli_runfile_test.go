package stack

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// deploy/local/dapr.yaml runs the redis profile under the Dapr CLI, with
// dapr.env as daprd's environment. How the CLI resolves the run file's
// paths is checked with the CLI's own parser in deploy/dapr-cli (a module
// outside go.work) and end to end in e2e's TestDaprCLIRunFile; this keeps
// dapr.env in step with what the launcher gives daprd on the same profile.
func TestDaprCLIEnvMatchesTheLauncher(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "dapr.env"))
	require.NoError(t, err)
	defer f.Close()
	var keys []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		require.True(t, ok, "dapr.env line %q", line)
		keys = append(keys, k)
	}
	require.NoError(t, sc.Err())
	var need []string
	for k := range (&Stack{}).componentEnv() {
		if k != "SA_NATS_URL" && k != "SA_STATE_DB" && k != "SA_HEALTH_STATE_DB" { // local profile only
			need = append(need, k)
		}
	}
	sort.Strings(keys)
	sort.Strings(need)
	require.Equal(t, need, keys)
	_, err = validateComponents(componentsDir(filepath.Join("..", "..", ".."), "redis"), envOf(keys))
	require.NoError(t, err)
}

func envOf(keys []string) map[string]string {
	m := map[string]string{}
	for _, k := range keys {
		m[k] = ""
	}
	return m
}
