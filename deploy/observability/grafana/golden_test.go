package grafana

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the dashboards, their chart copies, queries.json (and ../testdata/dapr-metrics.txt when bin/daprd is built)")

// Where the dashboards are committed: this folder and the chart's files,
// which the chart's dashboard ConfigMaps read.
const (
	boardsDir   = "."
	chartBoards = "../../../charts/secure-agent/files/dashboards"
	manifest    = "queries.json"
)

// generated is what the code builds, by file path, with the dashboards
// written to dir and chartDir.
func generated(t *testing.T, dir, chartDir string) map[string][]byte {
	t.Helper()
	boards, err := Boards()
	require.NoError(t, err)
	out := map[string][]byte{}
	for _, b := range boards {
		js, err := b.JSON()
		require.NoError(t, err)
		out[filepath.Join(dir, b.Name+".json")] = js
		out[filepath.Join(chartDir, b.Name+".json")] = js
	}
	qs, err := Manifest(boards)
	require.NoError(t, err)
	out[filepath.Join(dir, manifest)] = qs
	return out
}

// jsonFiles lists the .json files in dirs.
func jsonFiles(dirs ...string) ([]string, error) {
	var files []string
	for _, dir := range dirs {
		m, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil {
			return nil, err
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	return files, nil
}

// drift lists how the .json files in dirs differ from want: a file that
// differs, is missing, or is not generated at all.
func drift(want map[string][]byte, dirs ...string) ([]string, error) {
	onDisk, err := jsonFiles(dirs...)
	if err != nil {
		return nil, err
	}
	var problems []string
	for _, f := range onDisk {
		if _, ok := want[f]; !ok {
			problems = append(problems, fmt.Sprintf("%s: not generated (a stale dashboard?)", f))
		}
	}
	var paths []string
	for f := range want {
		paths = append(paths, f)
	}
	sort.Strings(paths)
	for _, f := range paths {
		got, err := os.ReadFile(f)
		switch {
		case os.IsNotExist(err):
			problems = append(problems, fmt.Sprintf("%s: missing", f))
		case err != nil:
			return nil, err
		case !bytes.Equal(got, want[f]):
			problems = append(problems, fmt.Sprintf("%s: differs from what the code generates", f))
		}
	}
	return problems, nil
}

// write makes dirs hold exactly want's .json files.
func write(want map[string][]byte, dirs ...string) error {
	onDisk, err := jsonFiles(dirs...)
	if err != nil {
		return err
	}
	for _, f := range onDisk {
		if _, ok := want[f]; !ok {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	for f, b := range want {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(f, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// The committed dashboards (here and in the chart) and queries.json are
// exactly what the code generates, and no other JSON file lies beside
// them. `go test ./grafana -update` rewrites them.
func TestCommittedFilesAreGenerated(t *testing.T) {
	want := generated(t, boardsDir, chartBoards)
	if *update {
		require.NoError(t, write(want, boardsDir, chartBoards))
	}
	problems, err := drift(want, boardsDir, chartBoards)
	require.NoError(t, err)
	require.Empty(t, problems, "run `GOWORK=off go test ./grafana -update` in deploy/observability")
}

// The drift check finds an edited copy, a missing one and a stale one.
func TestDriftIsCaught(t *testing.T) {
	dir, chart := t.TempDir(), filepath.Join(t.TempDir(), "dashboards")
	want := generated(t, dir, chart)
	require.NoError(t, write(want, dir, chart))
	problems, err := drift(want, dir, chart)
	require.NoError(t, err)
	require.Empty(t, problems)

	edited := filepath.Join(chart, "overview.json")
	require.NoError(t, os.WriteFile(edited, bytes.Replace(want[edited], []byte("secure-agent / Overview"), []byte("secure-agent / Overview (edited)"), 1), 0o644))
	require.NoError(t, os.Remove(filepath.Join(dir, "dapr.json")))
	require.NoError(t, os.WriteFile(filepath.Join(chart, "retired.json"), []byte("{}\n"), 0o644))

	problems, err = drift(want, dir, chart)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{
		filepath.Join(chart, "retired.json") + ": not generated (a stale dashboard?)",
		filepath.Join(dir, "dapr.json") + ": missing",
		edited + ": differs from what the code generates",
	}, problems)
}
