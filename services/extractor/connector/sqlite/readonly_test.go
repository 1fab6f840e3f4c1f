package sqlite_test

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/internal/conntest"
)

type fileState struct {
	sum     [32]byte
	modTime int64
	entries []string
}

func stateOf(t *testing.T, path string) fileState {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	info, err := os.Stat(path)
	require.NoError(t, err)
	des, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	var names []string
	for _, d := range des {
		names = append(names, d.Name())
	}
	sort.Strings(names)
	return fileState{sum: sha256.Sum256(data), modTime: info.ModTime().UnixNano(), entries: names}
}

// Preflight and extraction leave the file, and its directory, exactly as
// they were.
func TestSourceIsNeverModified(t *testing.T) {
	path := createDB(t, "shop.db", fixtureSQL(t))
	before := stateOf(t, path)

	c := open(t, source(path))
	checks := c.Preflight(context.Background())
	require.Equal(t, connector.Pass, checkNamed(t, checks, "catalog_privileges").Status)
	w, err := model.NewWriter(&conntest.Sink{}, model.WriterOptions{JobID: "job-1"})
	require.NoError(t, err)
	_, err = c.Extract(context.Background(), w)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, c.Close())

	require.Equal(t, before, stateOf(t, path))
}
