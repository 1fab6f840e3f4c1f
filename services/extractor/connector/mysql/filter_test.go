package mysql

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/internal/conntest"
)

// names lists "schema.name" of kind's rows (prefix shown as {{P}}), sorted.
func (f fixture) names(sink *conntest.Sink, kind model.Kind, field string) []string {
	var out []string
	for _, r := range sink.Rows() {
		if r.Kind != kind {
			continue
		}
		s, _ := r.Fields["schema_name"].(string)
		n, _ := r.Fields[field].(string)

		if kind != model.KindSchema {
			n = s + "." + n
		}
		out = append(out, strings.ReplaceAll(n, f.prefix, "{{P}}"))
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func qn(r conntest.Row) string { s, _ := r.Fields["qualified_name"].(string); return s }

// requireChildrenFollow checks that every child row belongs to an
// extracted table and every routine to an extracted schema.
func requireChildrenFollow(t *testing.T, sink *conntest.Sink) {
	t.Helper()
	tables, schemas := map[string]bool{}, map[string]bool{}
	for _, r := range sink.Rows() {
		switch r.Kind {
		case model.KindTable:
			tables[qn(r)] = true
		case model.KindSchema:
			schemas[qn(r)] = true
		}
	}
	for _, r := range sink.Rows() {
		parent, _ := r.Fields["parent_qualified_name"].(string)
		switch r.Kind {
		case model.KindColumn, model.KindConstraint, model.KindIndex, model.KindLineage, model.KindTableStats:
			require.True(t, tables[parent], "%s %s belongs to a table that was not extracted", r.Kind, qn(r))
		case model.KindRoutine, model.KindTable:
			require.True(t, schemas[parent], "%s %s belongs to a schema that was not extracted", r.Kind, qn(r))
		}
	}
}

func TestFilters(t *testing.T) {
	f := loadFixture(t)
	all := []string{
		"{{P}}Odd/Sch.ema ü.Mixed/Case.Table \"q\"", "{{P}}Odd/Sch.ema ü.v/odd.view", "{{P}}Odd/Sch.ema ü.Ümlaut 表",
		"{{P}}inventory.products",
		"{{P}}sales.customers", "{{P}}sales.events", "{{P}}sales.events#P#p2023", "{{P}}sales.events#P#p2024", "{{P}}sales.events#P#pmax",
		"{{P}}sales.metrics", "{{P}}sales.metrics#P#hi", "{{P}}sales.metrics#P#hi#SP#hisp0", "{{P}}sales.metrics#P#hi#SP#hisp1",
		"{{P}}sales.metrics#P#lo", "{{P}}sales.metrics#P#lo#SP#losp0", "{{P}}sales.metrics#P#lo#SP#losp1",
		"{{P}}sales.order_items", "{{P}}sales.orders", "{{P}}sales.tmp_scratch", "{{P}}sales.v_customer_orders",
	}
	without := func(drop ...string) []string {
		var out []string
		for _, n := range all {
			if !slices.ContainsFunc(drop, func(d string) bool { return strings.HasPrefix(n, d) }) {
				out = append(out, n)
			}
		}
		return out
	}
	p := f.prefix
	tests := []struct {
		name     string
		filters  connector.Filters
		tables   []string
		schemas  []string
		routines []string
	}{
		{
			name:     "none",
			tables:   all,
			schemas:  []string{"{{P}}Odd/Sch.ema ü", "{{P}}inventory", "{{P}}sales"},
			routines: []string{"{{P}}Odd/Sch.ema ü.fn/odd", "{{P}}sales.close_order", "{{P}}sales.order_total"},
		},
		{
			name:     "include schema",
			filters:  connector.Filters{IncludeSchemas: []string{`default\.` + p + `sales`}},
			tables:   without("{{P}}Odd", "{{P}}inventory"),
			schemas:  []string{"{{P}}sales"},
			routines: []string{"{{P}}sales.close_order", "{{P}}sales.order_total"},
		},
		{
			name:     "exclude schema with '/', '.' and non-ASCII in its name",
			filters:  connector.Filters{ExcludeSchemas: []string{`default\.` + p + `Odd/Sch\.ema ü`}},
			tables:   without("{{P}}Odd"),
			schemas:  []string{"{{P}}inventory", "{{P}}sales"},
			routines: []string{"{{P}}sales.close_order", "{{P}}sales.order_total"},
		},
		{
			name:     "include tables",
			filters:  connector.Filters{IncludeTables: []string{p + `sales\.(customers|orders)`, `.*\.products`}},
			tables:   []string{"{{P}}inventory.products", "{{P}}sales.customers", "{{P}}sales.orders"},
			schemas:  []string{"{{P}}Odd/Sch.ema ü", "{{P}}inventory", "{{P}}sales"},
			routines: []string{"{{P}}Odd/Sch.ema ü.fn/odd", "{{P}}sales.close_order", "{{P}}sales.order_total"},
		},
		{
			name:     "exclude tables",
			filters:  connector.Filters{ExcludeTables: []string{`.*\.order.*`, `.*\.(events|metrics)`}},
			tables:   without("{{P}}sales.order", "{{P}}sales.events", "{{P}}sales.metrics"),
			schemas:  []string{"{{P}}Odd/Sch.ema ü", "{{P}}inventory", "{{P}}sales"},
			routines: []string{"{{P}}Odd/Sch.ema ü.fn/odd", "{{P}}sales.close_order", "{{P}}sales.order_total"},
		},
		{
			// Patterns are case-sensitive although information_schema
			// compares names case-insensitively.
			name:     "exclude is case-sensitive",
			filters:  connector.Filters{ExcludeTables: []string{`.*\.CUSTOMERS`, `.*\.mixed/case.*`}},
			tables:   all,
			schemas:  []string{"{{P}}Odd/Sch.ema ü", "{{P}}inventory", "{{P}}sales"},
			routines: []string{"{{P}}Odd/Sch.ema ü.fn/odd", "{{P}}sales.close_order", "{{P}}sales.order_total"},
		},
		{
			// '.' is one character, also a multi-byte one: 表 is three bytes.
			name:     "include matches characters, not bytes",
			filters:  connector.Filters{IncludeTables: []string{`.*\.Ümlaut .`}},
			tables:   []string{"{{P}}Odd/Sch.ema ü.Ümlaut 表"},
			schemas:  []string{"{{P}}Odd/Sch.ema ü", "{{P}}inventory", "{{P}}sales"},
			routines: []string{"{{P}}Odd/Sch.ema ü.fn/odd", "{{P}}sales.close_order", "{{P}}sales.order_total"},
		},
		{
			name:     "exclude matches characters, not bytes",
			filters:  connector.Filters{ExcludeTables: []string{`.*\.Ümlaut ...`}},
			tables:   all,
			schemas:  []string{"{{P}}Odd/Sch.ema ü", "{{P}}inventory", "{{P}}sales"},
			routines: []string{"{{P}}Odd/Sch.ema ü.fn/odd", "{{P}}sales.close_order", "{{P}}sales.order_total"},
		},
		{
			name:     "temp tables",
			filters:  connector.Filters{TempTables: `tmp_.*`},
			tables:   without("{{P}}sales.tmp_scratch"),
			schemas:  []string{"{{P}}Odd/Sch.ema ü", "{{P}}inventory", "{{P}}sales"},
			routines: []string{"{{P}}Odd/Sch.ema ü.fn/odd", "{{P}}sales.close_order", "{{P}}sales.order_total"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := f.source()
			src.Filters = tt.filters
			sink, stats := extract(t, src, nil, model.WriterOptions{})
			require.Equal(t, ExtractQueries+ExtractWarningChecks(tt.filters), stats.Queries)
			require.Equal(t, tt.tables, f.names(sink, model.KindTable, "table_name"))
			require.Equal(t, tt.schemas, f.names(sink, model.KindSchema, "schema_name"))
			require.Equal(t, tt.routines, f.names(sink, model.KindRoutine, "routine_name"))
			requireChildrenFollow(t, sink)
		})
	}
}

// TestFilterPreflight checks the per-pattern checks: counts, and a warn
// that names a pattern matching nothing.
func TestFilterPreflight(t *testing.T) {
	f := loadFixture(t)
	src := f.source()
	src.Filters = connector.Filters{
		IncludeSchemas: []string{`default\.` + f.prefix + `(sales|inventory)`},
		ExcludeSchemas: []string{`default\.nothing_here`},
		IncludeTables:  []string{`.*\.(customers|orders)`},
		ExcludeTables:  []string{`nomatch_.*\.x`},
		TempTables:     `tmp_.*`,
	}
	checks := preflight(t, src, nil)

	inc := checks["filter include_schemas ^(?:default\\."+f.prefix+"(sales|inventory))$"]
	require.Equal(t, connector.Pass, inc.Status, "%+v", checks)
	require.Contains(t, inc.Detail, "matches 2 of 3 schemas")

	none := checks[`filter exclude_schemas ^(?:default\.nothing_here)$`]
	require.Equal(t, connector.Warn, none.Status)
	require.Contains(t, none.Remediation, `default\.nothing_here`)
	require.Contains(t, none.Remediation, "matches no schema")

	tables := checks[`filter include_tables ^(?:.*\.(customers|orders))$`]
	require.Equal(t, connector.Pass, tables.Status)
	require.Contains(t, tables.Detail, "matches 2 of 11 tables")

	// The checks carry what the empty-match decision reads.
	require.Equal(t, "include_tables", tables.Filter)
	require.Equal(t, `.*\.(customers|orders)`, tables.Pattern)
	require.Equal(t, 2, *tables.Matches)
	require.False(t, tables.MatchedNothing())
	require.Equal(t, 0, *none.Matches)
	require.False(t, none.MatchedNothing(), "an exclude pattern that matches nothing is only a warning")

	require.Equal(t, connector.Warn, checks[`filter exclude_tables ^(?:nomatch_.*\.x)$`].Status)
	require.Equal(t, connector.Pass, checks[`filter temp_tables ^(?:tmp_.*)$`].Status)
	require.Contains(t, checks[`filter temp_tables ^(?:tmp_.*)$`].Detail, "matches 1 of 11 tables")

	for _, name := range []string{CheckAuthentication, CheckServerVersion, CheckCatalogPrivileges} {
		require.Equal(t, connector.Pass, checks[name].Status, "%s: %+v", name, checks[name])
	}
	require.Contains(t, checks[CheckCatalogPrivileges].Detail, "sees all 3 expected schemas")
	// MariaDB has no view dependency catalog.
	require.Equal(t, connector.Warn, checks[CheckLineage].Status)
	require.Contains(t, checks[CheckLineage].Detail, "no view dependency catalog")
	require.Equal(t, connector.Warn, checks[CheckTLS].Status, "the test server offers no TLS")
}

// TestBadPatternFailsBeforeConnecting: a bad regex is an Open error.
func TestBadPatternFailsBeforeConnecting(t *testing.T) {
	src := connector.Source{Kind: "mysql", Connection: testConnection, DSN: "root@tcp(127.0.0.1:1)/",
		Filters: connector.Filters{IncludeTables: []string{"(unclosed"}}}
	_, err := Open(t.Context(), src, nil)
	require.ErrorContains(t, err, "include_tables")
	require.ErrorContains(t, err, "(unclosed")
}
