package cli

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector/sqlite/demo"
)

// demoDB generates the bundled demo database (40 tables, 7 views).
func demoDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "demo.db")
	require.NoError(t, demo.Generate(path))
	return path
}

func requireNothingWritten(t *testing.T, out string) {
	t.Helper()
	entries, err := os.ReadDir(out)
	if err == nil {
		require.Empty(t, entries, "nothing is kept in %s", out)
		return
	}
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestExtractFilterThatMatchesNothing runs the demo database with an
// include pattern that matches no table: the run fails naming the pattern
// and writes nothing, unless --allow-empty, which keeps it a warning on
// stderr and in the summary.
func TestExtractFilterThatMatchesNothing(t *testing.T) {
	db := demoDB(t)
	out := filepath.Join(t.TempDir(), "out")
	r := runCLI(t, nil, "extract", "--source", "sqlite", "--dsn", db, "--include-table", `main\.no_such_table`, "--out", out)
	require.Equal(t, ExitFailure, r.code, r.stderr)
	require.Empty(t, r.stdout)
	require.Contains(t, r.stderr, `main\\.no_such_table`, "the message names the pattern")
	require.Contains(t, r.stderr, "matches no tables")
	require.Contains(t, r.stderr, "pass --allow-empty")
	requireNothingWritten(t, out)

	r = runCLI(t, nil, "extract", "--source", "sqlite", "--dsn", db, "--include-table", `main\.no_such_table`, "--allow-empty", "--out", out)
	require.Equal(t, ExitOK, r.code, r.stderr)
	s := parseSummary(t, r.stdout)
	require.Zero(t, s.Counts[model.KindTable])
	require.Len(t, s.Warnings, 2, "the pattern, and the empty selection")
	require.Contains(t, s.Warnings[0], `main\\.no_such_table`)
	require.Contains(t, s.Warnings[1], "select no table")
	require.Regexp(t, `(?m)^warning: filter include_tables "main\\\\.no_such_table" matches no tables`, r.stderr)
	require.NoError(t, model.VerifyDir(out))

	// An exclude pattern that matches nothing excludes nothing: a warning.
	out2 := filepath.Join(t.TempDir(), "out")
	r = runCLI(t, nil, "extract", "--source", "sqlite", "--dsn", db, "--exclude-table", `main\.nope`, "--out", out2)
	require.Equal(t, ExitOK, r.code, r.stderr)
	s = parseSummary(t, r.stdout)
	require.EqualValues(t, 47, s.Counts[model.KindTable])
	require.Len(t, s.Warnings, 1)
	require.Contains(t, r.stderr, `warning: filter exclude_tables "main\\.nope" matches no tables`)

	// No warning without a filter problem.
	out3 := filepath.Join(t.TempDir(), "out")
	r = runCLI(t, nil, "extract", "--source", "sqlite", "--dsn", db, "--include-table", `main\.customers`, "--out", out3)
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Empty(t, parseSummary(t, r.stdout).Warnings)
	require.NotContains(t, r.stderr, "warning:")
}

// TestExtractEmptySelection: filters that each match but together keep no
// table, and a source without tables, fail with nothing kept unless
// --allow-empty.
func TestExtractEmptySelection(t *testing.T) {
	db := demoDB(t)
	out := filepath.Join(t.TempDir(), "out")
	r := runCLI(t, nil, "extract", "--source", "sqlite", "--dsn", db,
		"--include-table", `main\.customers`, "--exclude-table", `main\.customers`, "--out", out)
	require.Equal(t, ExitFailure, r.code, r.stderr)
	require.Empty(t, r.stdout)
	require.Contains(t, r.stderr, "the databases and filters select no table or view")
	require.Contains(t, r.stderr, "pass --allow-empty")
	requireNothingWritten(t, out)

	empty := filepath.Join(t.TempDir(), "empty.db")
	sdb, err := sql.Open("sqlite", empty)
	require.NoError(t, err)
	_, err = sdb.Exec("PRAGMA user_version = 1") // a valid, empty database file
	require.NoError(t, err)
	require.NoError(t, sdb.Close())
	r = runCLI(t, nil, "extract", "--source", "sqlite", "--dsn", empty, "--out", out)
	require.Equal(t, ExitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, "select no table")
	requireNothingWritten(t, out)
	r = runCLI(t, nil, "extract", "--source", "sqlite", "--dsn", empty, "--allow-empty", "--out", out)
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stderr, "warning: the databases and filters select no table or view")
}

// TestExtractPostgresIncludeMatchesNothing: the same on real PostgreSQL,
// where the pattern is a schema pattern.
func TestExtractPostgresIncludeMatchesNothing(t *testing.T) {
	db := pgDatabase(t, `CREATE SCHEMA sales`, `CREATE TABLE sales.orders (id int)`)
	out := filepath.Join(t.TempDir(), "out")
	r := runCLI(t, nil, "extract", "--source", "postgres", "--dsn", pgDSN(db), "--database", db,
		"--include", db+`\.sale`, "--out", out)
	require.Equal(t, ExitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, `include_schemas "`+db+`\\.sale" matches no schema`)
	require.Contains(t, r.stderr, "pass --allow-empty")
	requireNothingWritten(t, out)

	r = runCLI(t, nil, "extract", "--source", "postgres", "--dsn", pgDSN(db), "--database", db,
		"--include", db+`\.sales`, "--out", out)
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.EqualValues(t, 1, parseSummary(t, r.stdout).Counts[model.KindTable])
}

// TestExtractMaxTextBytes: a long view definition is cut at
// --max-text-bytes, marked in the row and the entity export, and counted
// in the summary and the manifest.
func TestExtractMaxTextBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "long.db")
	sdb, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = sdb.Exec("CREATE TABLE t (a text); CREATE VIEW v AS SELECT '" + strings.Repeat("x", 5000) + "' AS x;")
	require.NoError(t, err)
	require.NoError(t, sdb.Close())

	out := filepath.Join(t.TempDir(), "out")
	r := runCLI(t, nil, "extract", "--source", "sqlite", "--dsn", path, "--max-text-bytes", "1024", "--out", out)
	require.Equal(t, ExitOK, r.code, r.stderr)
	s := parseSummary(t, r.stdout)
	require.Equal(t, map[model.Kind]int64{model.KindTable: 1}, s.Truncated)
	m, err := model.ReadManifest(out)
	require.NoError(t, err)
	require.Equal(t, map[model.Kind]int64{model.KindTable: 1}, m.Truncated)
	require.Equal(t, 1024, m.Source.MaxTextBytes)
	require.NoError(t, model.VerifyDir(out))

	var entities bytes.Buffer
	_, err = model.ExportEntityJSONL(out, &entities)
	require.NoError(t, err)
	require.Contains(t, entities.String(), `"truncatedFields":["view_definition"]`)
	require.NotContains(t, entities.String(), strings.Repeat("x", 1025))

	// The default keeps it whole.
	out2 := filepath.Join(t.TempDir(), "out")
	r = runCLI(t, nil, "extract", "--source", "sqlite", "--dsn", path, "--out", out2)
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Empty(t, parseSummary(t, r.stdout).Truncated)
	m, err = model.ReadManifest(out2)
	require.NoError(t, err)
	require.Equal(t, model.DefaultMaxTextBytes, m.Source.MaxTextBytes)

	r = runCLI(t, nil, "extract", "--source", "sqlite", "--dsn", path, "--max-text-bytes", "100000000", "--out", out2+"x")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "--max-text-bytes: 100000000 is not a text cap: use 1 to 67108864 bytes")
}
