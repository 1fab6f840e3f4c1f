package datadog

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite dashboard.json, monitors.json and checks.json (here and in the chart)")

// chartFiles holds the chart's copy of checks.json, which its Deployment
// template reads for the Autodiscovery annotations.
const chartFiles = "../../../charts/secure-agent/files/datadog"

// generatedFiles is what the code builds, by path.
func generatedFiles(t *testing.T) map[string][]byte {
	t.Helper()
	dash, err := DashboardJSON()
	require.NoError(t, err)
	mons, err := MonitorsJSON()
	require.NoError(t, err)
	checks, err := ChecksJSON()
	require.NoError(t, err)
	return map[string][]byte{
		"dashboard.json":                      dash,
		"monitors.json":                       mons,
		ChecksFile:                            checks,
		filepath.Join(chartFiles, ChecksFile): checks,
	}
}

// The committed files are what the code generates; -update rewrites them.
func TestGoldenFiles(t *testing.T) {
	for path, want := range generatedFiles(t) {
		if *update {
			require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
			require.NoError(t, os.WriteFile(path, want, 0o644))
			continue
		}
		got, err := os.ReadFile(path)
		require.NoError(t, err, "%s: run `GOWORK=off go test ./datadog -update` in deploy/observability", path)
		require.True(t, bytes.Equal(want, got),
			"%s differs from what the code generates: run `GOWORK=off go test ./datadog -update` in deploy/observability", path)
	}
}
