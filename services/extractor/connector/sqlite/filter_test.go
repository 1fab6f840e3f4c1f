package sqlite_test

import (
	"context"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

func TestFilters(t *testing.T) {
	path := createDB(t, "shop.db", fixtureSQL(t))
	all := []string{"Order Lines/2024", "Order Lines/2024 view", "customer_orders", "customers", "kv", "orders",
		"product_search", "product_search_config", "product_search_content", "product_search_data",
		"product_search_docsize", "product_search_idx", "products", "shipments", "untyped", "Ümlaut 表"}
	without := func(drop ...string) []string {
		var out []string
		for _, n := range all {
			keep := true
			for _, d := range drop {
				keep = keep && n != d
			}
			if keep {
				out = append(out, n)
			}
		}
		return out
	}
	search := []string{"product_search", "product_search_config", "product_search_content", "product_search_data",
		"product_search_docsize", "product_search_idx"}

	tests := []struct {
		name       string
		filters    connector.Filters
		schemas    int
		wantTables []string
	}{
		{"none", connector.Filters{}, 1, all},
		{"include schema", connector.Filters{IncludeSchemas: []string{`shop\.main`}}, 1, all},
		{"exclude schema", connector.Filters{ExcludeSchemas: []string{`shop\..*`}}, 0, nil},
		{"include schema of another database name", connector.Filters{IncludeSchemas: []string{`other\.main`}}, 0, nil},
		{"include tables", connector.Filters{IncludeTables: []string{`main\.orders`, `main\.customers`}}, 1, []string{"customers", "orders"}},
		{"exclude tables", connector.Filters{ExcludeTables: []string{`main\.product_search.*`}}, 1, without(search...)},
		{"exclude wins over include", connector.Filters{IncludeTables: []string{`main\.(orders|customers)`}, ExcludeTables: []string{`main\.orders`}}, 1, []string{"customers"}},
		{"temp tables", connector.Filters{TempTables: `product_search_.*`}, 1, without(search[1:]...)},
		{"unicode and slash", connector.Filters{IncludeTables: []string{`main\.(Ümlaut 表|Order Lines/2024)`}}, 1, []string{"Order Lines/2024", "Ümlaut 表"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := source(path)
			src.Filters = tc.filters
			sink, _ := extract(t, src, model.WriterOptions{})
			require.Equal(t, 1, sink.count(model.KindDatabase))
			require.Equal(t, tc.schemas, sink.count(model.KindSchema))
			var tables []string
			for _, r := range sink.rows[model.KindTable] {
				tables = append(tables, r["table_name"].(string))
			}
			sort.Strings(tables)
			want := append([]string(nil), tc.wantTables...)
			sort.Strings(want)
			require.Equal(t, want, tables)
			// Children follow their table.
			for _, k := range []model.Kind{model.KindColumn, model.KindConstraint, model.KindIndex, model.KindTableStats} {
				for _, r := range sink.rows[k] {
					require.Contains(t, want, r["table_name"], "%s %s", k, r["qualified_name"])
				}
			}
		})
	}
}

func TestFilterPreflight(t *testing.T) {
	path := createDB(t, "shop.db", fixtureSQL(t))
	src := source(path)
	src.Filters = connector.Filters{
		IncludeSchemas: []string{`shop\.main`},
		ExcludeTables:  []string{`main\.product_search.*`, `main\.nope`},
		TempTables:     `tmp_.*`,
	}
	c := open(t, src)
	checks := c.Preflight(context.Background())

	ck := checkNamed(t, checks, `filter include_schemas ^(?:shop\.main)$`)
	require.Equal(t, connector.Pass, ck.Status, ck.Detail)
	require.Contains(t, ck.Detail, "matches 1 schemas")

	ck = checkNamed(t, checks, `filter exclude_tables ^(?:main\.product_search.*)$`)
	require.Equal(t, connector.Pass, ck.Status, ck.Detail)
	require.Contains(t, ck.Detail, "matches 6 tables")

	for _, name := range []string{`filter exclude_tables ^(?:main\.nope)$`, `filter temp_tables ^(?:tmp_.*)$`} {
		ck = checkNamed(t, checks, name)
		require.Equal(t, connector.Warn, ck.Status, ck.Detail)
		require.Contains(t, ck.Detail, "matches no tables")
		require.NotEmpty(t, ck.Remediation)
	}
	require.Contains(t, checkNamed(t, checks, `filter exclude_tables ^(?:main\.nope)$`).Detail, `main\\.nope`)

	// The checks carry what the empty-match decision reads.
	ck = checkNamed(t, checks, `filter include_schemas ^(?:shop\.main)$`)
	require.Equal(t, "include_schemas", ck.Filter)
	require.Equal(t, `shop\.main`, ck.Pattern)
	require.Equal(t, 1, *ck.Matches)
	require.False(t, checkNamed(t, checks, `filter exclude_tables ^(?:main\.nope)$`).MatchedNothing(), "exclude")

	src.Filters = connector.Filters{IncludeTables: []string{`main\.nosuch`}}
	ck = checkNamed(t, open(t, src).Preflight(context.Background()), `filter include_tables ^(?:main\.nosuch)$`)
	require.Equal(t, connector.Warn, ck.Status)
	require.True(t, ck.MatchedNothing())
}

func TestBadFilterFailsBeforeOpening(t *testing.T) {
	src := source("/nonexistent/dir/x.db")
	src.Filters = connector.Filters{IncludeTables: []string{`(unclosed`}}
	_, err := openErr(src)
	require.ErrorContains(t, err, "include_tables")
	require.ErrorContains(t, err, "(unclosed")
	require.NotContains(t, err.Error(), "does not exist", "the pattern is checked before the file")
}
