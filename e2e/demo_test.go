package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
)

// TestRunOnceDemo is `RUN_ONCE=1 make run`: the stack comes up, the demo
// job runs on the bundled SQLite database, the launcher prints the
// summary, stops everything and exits 0.
func TestRunOnceDemo(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	code, out := runBin(t, "devstack", 4*time.Minute,
		"SA_ROOT="+root(t), "DATA_DIR="+dataDir, "SA_PORT_BASE=26000", "QUIET=1", "RUN_ONCE=1")
	require.Equal(t, 0, code, out)
	m := regexp.MustCompile(`(?m)^job (\S+) succeeded: (\d+) assets in \S+$`).FindStringSubmatch(out)
	require.NotNil(t, m, "the summary line is missing:\n%s", out)
	require.Contains(t, out, "output:   "+filepath.Join(dataDir, "destination", "jobs", m[1], "manifest.json"))
	require.Contains(t, out, "==> stopped; nothing left running")

	dir := filepath.Join(dataDir, "destination", "jobs", m[1])
	require.NoError(t, model.VerifyDir(dir))
	man, err := model.ReadManifest(dir)
	require.NoError(t, err)
	require.Equal(t, int64(47), man.Rows[model.KindTable], "the demo database has 40 tables and 7 views")
	var total int64
	for _, n := range man.Rows {
		total += n
	}
	require.Equal(t, m[2], strconv.FormatInt(total, 10), "the summary counts every asset of the manifest")
	require.Empty(t, processesIn(t, dataDir), "processes left behind")
	_, err = os.Stat(filepath.Join(dataDir, "demo", "retail.db"))
	require.NoError(t, err)
}
