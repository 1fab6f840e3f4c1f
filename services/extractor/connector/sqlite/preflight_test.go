package sqlite_test

import (
	"context"
	"encoding/binary"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

func TestPreflight(t *testing.T) {
	path := createDB(t, "shop.db", fixtureSQL(t))
	checks := open(t, source(path)).Preflight(context.Background())

	want := map[string]connector.Status{
		"authentication": connector.Pass, "server_version": connector.Pass, "catalog_privileges": connector.Pass,
		"table_definitions": connector.Pass, "statistics": connector.Pass, "lineage": connector.Warn,
	}
	require.Len(t, checks, len(want), "no filter checks without filters")
	for name, status := range want {
		ck := checkNamed(t, checks, name)
		require.Equal(t, status, ck.Status, "%s: %s", name, ck.Detail)
		require.NotEmpty(t, ck.Detail)
		if status != connector.Pass {
			require.NotEmpty(t, ck.Remediation, name)
		}
	}
	require.Regexp(t, `^SQLite library 3\.\d+\.\d+; file last written by SQLite 3\.\d+\.\d+$`, checkNamed(t, checks, "server_version").Detail)
	require.Contains(t, checkNamed(t, checks, "catalog_privileges").Detail, "13 tables, 2 views, 1 virtual tables")
}

func TestPreflightWithoutStatistics(t *testing.T) {
	path := createDB(t, "bare.db", "CREATE TABLE a (x);")
	ck := checkNamed(t, open(t, source(path)).Preflight(context.Background()), "statistics")
	require.Equal(t, connector.Warn, ck.Status)
	require.Contains(t, ck.Remediation, "ANALYZE")
}

// A file last written by a newer SQLite than the agent's gets a warning.
func TestPreflightNewerWriter(t *testing.T) {
	path := createDB(t, "new.db", "CREATE TABLE a (x);")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	binary.BigEndian.PutUint32(data[96:100], 3999000)
	require.NoError(t, os.WriteFile(path, data, 0o644))

	ck := checkNamed(t, open(t, source(path)).Preflight(context.Background()), "server_version")
	require.Equal(t, connector.Warn, ck.Status, ck.Detail)
	require.Contains(t, ck.Detail, "file last written by SQLite 3.999.0")
	require.Contains(t, ck.Remediation, "newer SQLite")
}
