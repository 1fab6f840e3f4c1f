package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/sqlite"
	"github.com/secure-agent/secure-agent/services/extractor/connector/sqlite/demo"
)

func TestDemoDatabase(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "demo.db")
	require.NoError(t, demo.Generate(path))

	sink, st := extract(t, source(path), model.WriterOptions{})
	require.Equal(t, sqlite.ExtractQueries, st.Queries)

	tables, views := 0, map[string]bool{}
	for _, r := range sink.rows[model.KindTable] {
		switch r["table_kind"] {
		case model.TableKindTable:
			tables++
		case model.TableKindView:
			views[r["table_name"].(string)] = true
		}
	}
	require.GreaterOrEqual(t, tables, 30)
	require.GreaterOrEqual(t, len(views), 5)
	fks := sink.where(model.KindConstraint, "constraint_type", model.ConstraintForeignKey)
	require.GreaterOrEqual(t, len(fks), 25)
	require.NotEmpty(t, sink.where(model.KindConstraint, "constraint_type", model.ConstraintUnique))
	require.NotEmpty(t, sink.where(model.KindColumn, "is_generated", true))

	// Every view's columns, as SQLite itself lists them.
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	for view := range views {
		want := columnNames(t, db, view)
		require.NotEmpty(t, want, view)
		var got []string
		for _, r := range sink.where(model.KindColumn, "table_name", view) {
			got = append(got, r["column_name"].(string))
		}
		sort.Strings(got)
		require.Equal(t, want, got, "columns of view %s", view)
	}

	// ANALYZE ran: every non-empty table has a row count.
	for _, r := range sink.rows[model.KindTableStats] {
		require.NotNil(t, r["row_count"], "row count of %s", r["table_name"])
	}
	checks := open(t, source(path)).Preflight(context.Background())
	for _, name := range []string{"catalog_privileges", "table_definitions", "statistics"} {
		require.Equal(t, connector.Pass, checkNamed(t, checks, name).Status, name)
	}
}

func columnNames(t *testing.T, db *sql.DB, table string) []string {
	t.Helper()
	rows, err := db.Query("SELECT name FROM pragma_table_info(?)", table)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		out = append(out, n)
	}
	require.NoError(t, rows.Err())
	sort.Strings(out)
	return out
}

// Generating again replaces the file with an identical one and leaves
// nothing else behind.
func TestDemoIsDeterministicAndReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "demo.db")
	require.NoError(t, os.WriteFile(path, []byte("an older file"), 0o644))
	require.NoError(t, os.WriteFile(path+"-journal", []byte("stale journal"), 0o644))

	require.NoError(t, demo.Generate(path))
	first, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(first, []byte("SQLite format 3\x00")))
	require.NoError(t, demo.Generate(path))
	second, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, first, second)

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary or journal files left")
	info, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), info.Mode().Perm())
}

func TestDemoBadTarget(t *testing.T) {
	dir := t.TempDir()
	require.ErrorContains(t, demo.Generate(dir), "is a directory")
	require.ErrorContains(t, demo.Generate(filepath.Join(dir, "missing", "demo.db")), "must exist")
}
