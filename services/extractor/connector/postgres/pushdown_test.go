package postgres

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/internal/conntest"
	"github.com/stretchr/testify/require"
)

func TestPushable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern string
		want    bool
	}{
		{`sales`, true},
		{`sales\..*`, true},
		{`(sales|hr)\.t_[a-z0-9]+`, true},
		{`we/ird\.schema`, true},
		{`[^x]*`, true},
		{`(?i)sales`, false},    // flags
		{`(?:sales)`, false},    // Go-only spelling is refused wholesale
		{`t\d+`, false},         // locale-dependent class in PostgreSQL
		{`t[[:digit:]]`, false}, // POSIX class
		{`t{2}`, false},         // counted repetition
		{`Ümlaut`, false},       // non-ASCII
		{`a\pLb`, false},        // Unicode class
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, pushable(tc.pattern), tc.pattern)
	}
}

func TestPushdownLists(t *testing.T) {
	t.Parallel()
	c, err := connector.Filters{
		IncludeSchemas: []string{`db\.sales`, `(?i)db\.hr`}, // one unsafe: nothing pushed
		ExcludeSchemas: []string{`db\.tmp`, `db\.x\d`},      // the safe one pushed
		IncludeTables:  []string{`sales\..*`},
		TempTables:     `tmp_.*`,
	}.Compile()
	require.NoError(t, err)
	p := newPushdown(c, connector.SchemaSet{})
	require.Nil(t, p.includeSchemas)
	require.Equal(t, []string{`^(?:db\.tmp)$`}, p.excludeSchemas)
	require.Equal(t, []string{`^(?:sales\..*)$`}, p.includeTables)
	require.Nil(t, p.excludeTables)
	require.Equal(t, []string{`^(?:tmp_.*)$`}, p.tempTables)
}

func TestDatabaseMayMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		include []string
		db      string
		want    bool
	}{
		{nil, "any", true},
		{[]string{`sales\..*`}, "sales", true},
		{[]string{`sales\..*`}, "hr", false},
		{[]string{`sales\..*`}, "sales2", false},
		{[]string{`sal.*`}, "sales", true},
		{[]string{`sales\.public`, `hr\.public`}, "hr", true},
		{[]string{`(sales|hr)\.public`}, "other", true}, // cannot tell: connect
		{[]string{`(?i)SALES\..*`}, "sales", true},
		{[]string{`sales\.x`}, "sales.x", false},
		{[]string{`a\.b\.c`}, "a.b", true}, // database names may contain dots
	}
	for _, tc := range tests {
		c, err := connector.Filters{IncludeSchemas: tc.include}.Compile()
		require.NoError(t, err)
		require.Equal(t, tc.want, databaseMayMatch(c, tc.db), "%v %s", tc.include, tc.db)
	}
}

// TestPushdownAlone runs the SQL filters without the Go re-check, to show
// that what is pushed down selects exactly what the Go patterns select, and
// that a name with a newline is never excluded by SQL where Go keeps it.
func TestPushdownAlone(t *testing.T) {
	t.Parallel()
	db := newDatabase(t, fixtureSQL(t), "CREATE TABLE sales.\"tmp\nx\" (); CREATE TABLE sales.tmp_x ();")
	tests := []struct {
		name    string
		filters connector.Filters
	}{
		{"include schemas", connector.Filters{IncludeSchemas: []string{`.*\.sales`, `.*\.we/ird\.schema`}}},
		{"exclude schemas", connector.Filters{ExcludeSchemas: []string{`.*\.sales`}}},
		{"include tables", connector.Filters{IncludeTables: []string{`sales\.order.*`, `inventory\.[a-p]+`}}},
		{"exclude tables", connector.Filters{ExcludeTables: []string{`sales\..*s`}}},
		{"temp tables with a newline", connector.Filters{TempTables: `tmp.x`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := source(db)
			src.Filters = tc.filters
			full := extractTables(t, src, false)
			sqlOnly := extractTables(t, src, true)
			require.Equal(t, full, sqlOnly)
			require.NotEmpty(t, full)
		})
	}
	// Go's '.' does not match a newline, so "tmp\nx" is kept; SQL must agree.
	src := source(db)
	src.Filters = connector.Filters{TempTables: `tmp.x`}
	require.Contains(t, extractTables(t, src, true), "sales.tmp\nx")
	require.NotContains(t, extractTables(t, src, true), "sales.tmp_x")
}

func extractTables(t *testing.T, src connector.Source, sqlOnly bool) []string {
	t.Helper()
	conn := open(t, src).(*Connector)
	if sqlOnly {
		conn.filters = &connector.Compiled{}
	}
	sink := &conntest.Sink{}
	t.Cleanup(sink.Release)
	w, err := model.NewWriter(sink, model.WriterOptions{JobID: "j"})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = conn.Extract(ctx, w)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	out := tableNames(sink)
	sort.Strings(out)
	return out
}
