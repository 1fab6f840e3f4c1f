package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

// The plan's text is golden: a fixture change set (created, updated with
// attributes, deleted with reasons, a control character in a name) and a
// fixture whose deletions a fail-safe withholds.
func TestPlanOutputGolden(t *testing.T) {
	for _, name := range []string{"plan", "plan_failsafe"} {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", name+".json"))
			require.NoError(t, err)
			var p job.Plan
			require.NoError(t, json.Unmarshal(raw, &p))
			var out bytes.Buffer
			require.NoError(t, writePlan(&out, p))
			path := filepath.Join("testdata", name+".golden")
			if *updateGolden {
				require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "missing golden file; run go test -update")
			require.Equal(t, string(want), out.String(), "if the change is intended, run go test -run TestPlanOutputGolden -update")
		})
	}
}
