package postgres

import (
	"context"
	"regexp"
	"slices"
	"sort"
	"testing"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/internal/conntest"
	"github.com/stretchr/testify/require"
)

var fixtureTables = []string{
	"inventory.products", "inventory.remote_stock", "public.settings",
	"sales.big_customers", "sales.customer_orders", "sales.customers", "sales.event_notes",
	"sales.events", "sales.events_2024", "sales.events_2025", "sales.order_items",
	"sales.order_totals", "sales.orders", "sales.tmp_import_2024",
	"we/ird.schema.a.b/c", "Ümlaut 表.Sicht / view", `Ümlaut 表.Tabelle "quoted" / slash.dot`,
}

func without(all []string, drop ...string) []string {
	var out []string
	for _, s := range all {
		if !slices.Contains(drop, s) {
			out = append(out, s)
		}
	}
	return out
}

func matching(all []string, re string) []string {
	r := regexp.MustCompile("^(?:" + re + ")$")
	var out []string
	for _, s := range all {
		if r.MatchString(s) {
			out = append(out, s)
		}
	}
	return out
}

func TestFilters(t *testing.T) {
	t.Parallel()
	db := newDatabase(t, fixtureSQL(t))
	dbRE := regexp.QuoteMeta(db)

	tests := []struct {
		name    string
		filters connector.Filters
		tables  []string
		schemas []string
	}{
		{
			name:    "include schema",
			filters: connector.Filters{IncludeSchemas: []string{dbRE + `\.sales`}},
			tables:  matching(fixtureTables, `sales\..*`),
			schemas: []string{"sales"},
		},
		{
			name:    "exclude schemas",
			filters: connector.Filters{ExcludeSchemas: []string{`.*\.sales`, `.*\.inventory`}},
			tables:  matching(fixtureTables, `(public|we/ird\.schema|Ümlaut 表)\..*`),
			schemas: []string{"public", "we/ird.schema", "Ümlaut 表"},
		},
		{
			name:    "include tables",
			filters: connector.Filters{IncludeTables: []string{`sales\.orders|sales\.customers`}},
			tables:  []string{"sales.customers", "sales.orders"},
		},
		{
			name:    "exclude tables, not pushed down",
			filters: connector.Filters{ExcludeTables: []string{`sales\..*_\d{4}`}},
			tables:  without(fixtureTables, "sales.events_2024", "sales.events_2025", "sales.tmp_import_2024"),
		},
		{
			name:    "temp tables",
			filters: connector.Filters{TempTables: `tmp_.*`},
			tables:  without(fixtureTables, "sales.tmp_import_2024"),
		},
		{
			name:    "case-insensitive include, not pushed down",
			filters: connector.Filters{IncludeTables: []string{`(?i)SALES\.ORDERS`}},
			tables:  []string{"sales.orders"},
		},
		{
			name:    "unicode and slash in patterns",
			filters: connector.Filters{IncludeSchemas: []string{`.*\.Ümlaut 表`, `.*\.we/ird\.schema`}, ExcludeTables: []string{`Ümlaut 表\.Sicht / view`}},
			tables:  []string{"we/ird.schema.a.b/c", `Ümlaut 表.Tabelle "quoted" / slash.dot`},
			schemas: []string{"we/ird.schema", "Ümlaut 表"},
		},
		{
			name:    "include and exclude together",
			filters: connector.Filters{IncludeSchemas: []string{`.*\.sales`}, ExcludeTables: []string{`sales\.events.*`}, TempTables: `tmp_.*`},
			tables:  without(matching(fixtureTables, `sales\..*`), "sales.events", "sales.events_2024", "sales.events_2025", "sales.tmp_import_2024"),
			schemas: []string{"sales"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := source(db)
			src.Filters = tc.filters
			sink, st := extract(t, src, model.WriterOptions{})
			require.Equal(t, QueriesFixed+QueriesPerDatabase, st.Queries)

			got := tableNames(sink)
			want := slices.Clone(tc.tables)
			sort.Strings(want)
			require.Equal(t, want, got)
			if tc.schemas != nil {
				gotSchemas := names(sink, model.KindSchema, "schema_name")
				sort.Strings(gotSchemas)
				require.Equal(t, tc.schemas, gotSchemas)
				for _, r := range sink.Rows() {
					if r.Kind == model.KindRoutine {
						require.Contains(t, tc.schemas, r.Fields["schema_name"], "routine outside the selected schemas")
					}
				}
			}
			requireChildrenFollowTables(t, sink)
		})
	}
}

func tableNames(sink *conntest.Sink) []string {
	var out []string
	for _, r := range sink.Rows() {
		if r.Kind == model.KindTable {
			out = append(out, r.Fields["schema_name"].(string)+"."+r.Fields["table_name"].(string))
		}
	}
	sort.Strings(out)
	return out
}

// requireChildrenFollowTables checks that every column, constraint, index,
// lineage edge and statistics row belongs to an extracted table.
func requireChildrenFollowTables(t *testing.T, sink *conntest.Sink) {
	t.Helper()
	tables := map[string]bool{}
	for _, r := range sink.Rows() {
		if r.Kind == model.KindTable {
			tables[r.Fields["qualified_name"].(string)] = true
		}
	}
	for _, r := range sink.Rows() {
		switch r.Kind {
		case model.KindColumn, model.KindConstraint, model.KindIndex, model.KindLineage:
			require.True(t, tables[r.Fields["parent_qualified_name"].(string)], "%s %s has no extracted table", r.Kind, r.Fields["qualified_name"])
		case model.KindTableStats:
			require.True(t, tables[r.Fields["qualified_name"].(string)], "stats %s has no extracted table", r.Fields["qualified_name"])
		}
	}
}

func TestFilterSkipsDatabasesWithoutConnecting(t *testing.T) {
	t.Parallel()
	db := newDatabase(t, fixtureSQL(t))
	src := source(db)
	src.Filters = connector.Filters{IncludeSchemas: []string{`no_such_database\..*`}}
	sink, st := extract(t, src, model.WriterOptions{})
	require.Equal(t, QueriesFixed, st.Queries)
	require.Empty(t, sink.Rows())
}

func TestPreflightFilterChecks(t *testing.T) {
	t.Parallel()
	db := newDatabase(t, fixtureSQL(t))
	src := source(db)
	src.Filters = connector.Filters{
		IncludeSchemas: []string{`.*\.sales`, `.*\.nosuch`},
		ExcludeTables:  []string{`sales\.nope`},
		TempTables:     `tmp_.*`,
	}
	checks := open(t, src).Preflight(context.Background())

	nosuch, ok := checkByName(checks, `filter include_schemas ^(?:.*\.nosuch)$`)
	require.True(t, ok, "checks: %+v", checks)
	require.Equal(t, connector.Warn, nosuch.Status)
	require.True(t, nosuch.MatchedNothing())
	require.Equal(t, `.*\.nosuch`, nosuch.Pattern)
	require.Equal(t, "include_schemas", nosuch.Filter)

	sales, ok := checkByName(checks, `filter include_schemas ^(?:.*\.sales)$`)
	require.True(t, ok, "checks: %+v", checks)
	require.Equal(t, connector.Pass, sales.Status)
	require.Contains(t, sales.Detail, "matches 1 schema(s)")
	require.Equal(t, 1, *sales.Matches)
	require.False(t, sales.MatchedNothing())

	nope, ok := checkByName(checks, `filter exclude_tables ^(?:sales\.nope)$`)
	require.True(t, ok, "checks: %+v", checks)
	require.Equal(t, connector.Warn, nope.Status)
	require.Contains(t, nope.Detail, `exclude_tables "sales\\.nope" matches no table`)
	require.NotEmpty(t, nope.Remediation)

	tmp, ok := checkByName(checks, `filter temp_tables ^(?:tmp_.*)$`)
	require.True(t, ok, "checks: %+v", checks)
	require.Equal(t, connector.Pass, tmp.Status)
	require.Contains(t, tmp.Detail, "matches 1 table(s)")
}
