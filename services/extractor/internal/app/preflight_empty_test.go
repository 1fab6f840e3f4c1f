package app

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/sqlite"
)

// sqliteShop is a real SQLite file with two tables.
func sqliteShop(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shop.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec("CREATE TABLE orders (id int); CREATE TABLE customers (id int);")
	require.NoError(t, err)
	return path
}

// TestPreflightFailsSelectionsThatMatchNothing runs the real SQLite
// connector: an include pattern that matches nothing, or filters that
// together keep no table, fail the preflight naming the pattern and the
// spec field that allows it; with allow_empty_match they are warnings.
func TestPreflightFailsSelectionsThatMatchNothing(t *testing.T) {
	p, err := NewPreflighter(connector.Registry{sqlite.Kind: sqlite.Open}, noCreds{}, 0, nil, nil, nil)
	require.NoError(t, err)
	path := sqliteShop(t)
	run := func(f connector.Filters, allow bool) job.Preflight {
		t.Helper()
		s := job.Spec{Version: 1, Connection: "conn", Source: job.Source{Kind: sqlite.Kind, DSN: path}, Filters: f, AllowEmptyMatch: allow}
		pf, err := p.Preflight(context.Background(), s)
		require.NoError(t, err)
		return pf
	}
	check := func(pf job.Preflight, name string) job.Check {
		t.Helper()
		for _, c := range pf.Checks {
			if c.Name == name {
				return c
			}
		}
		t.Fatalf("no check %q in %+v", name, pf.Checks)
		return job.Check{}
	}
	const nosuch = `filter include_tables ^(?:main\.nosuch)$`

	pf := run(connector.Filters{IncludeTables: []string{`main\.nosuch`}}, false)
	require.False(t, pf.OK)
	require.Empty(t, pf.Partitions)
	c := check(pf, nosuch)
	require.Equal(t, "fail", c.Status)
	require.Contains(t, c.Detail, `main\\.nosuch`, "the detail names the pattern")
	require.Contains(t, c.Remediation, "allow_empty_match: true")

	pf = run(connector.Filters{IncludeTables: []string{`main\.nosuch`}}, true)
	require.True(t, pf.OK, "%+v", pf.Checks)
	require.Equal(t, "warn", check(pf, nosuch).Status)
	require.Equal(t, "warn", check(pf, connector.CheckEmptySelection).Status, "and the selection is empty")

	// Each pattern matches on its own; together they keep nothing.
	both := connector.Filters{IncludeTables: []string{`main\.orders`}, ExcludeTables: []string{`main\.orders`}}
	pf = run(both, false)
	require.False(t, pf.OK)
	require.Equal(t, "pass", check(pf, `filter include_tables ^(?:main\.orders)$`).Status)
	sel := check(pf, connector.CheckEmptySelection)
	require.Equal(t, "fail", sel.Status)
	require.Contains(t, sel.Detail, "select no table")
	require.Contains(t, sel.Remediation, "allow_empty_match: true")
	require.True(t, run(both, true).OK)

	// A selection with tables passes without an extra check.
	pf = run(connector.Filters{IncludeTables: []string{`main\.orders`}, ExcludeTables: []string{`main\.nope`}}, false)
	require.True(t, pf.OK, "%+v", pf.Checks)
	require.Equal(t, "warn", check(pf, `filter exclude_tables ^(?:main\.nope)$`).Status, "an exclude that matches nothing only warns")
	for _, c := range pf.Checks {
		require.NotEqual(t, connector.CheckEmptySelection, c.Name)
	}
}
