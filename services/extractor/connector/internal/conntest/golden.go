package conntest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Golden compares got with the file at path, or rewrites the file when
// update is set (each test package defines its own -update flag and passes
// it here).
func Golden(t testing.TB, path, got string, update bool) {
	t.Helper()
	if update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		t.Logf("updated %s", path)
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "read golden file; run the test with -update to create it")
	require.Equal(t, string(want), got, "output differs from %s; if the change is intended, rerun with -update and review the diff", path)
}
