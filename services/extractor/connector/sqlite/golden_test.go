package sqlite_test

import (
	"flag"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector/internal/conntest"
	"github.com/secure-agent/secure-agent/services/extractor/connector/sqlite"
)

var update = flag.Bool("update", false, "rewrite testdata/sqlite.golden")

func TestGolden(t *testing.T) {
	path := createDB(t, "shop.db", fixtureSQL(t))
	sink, st := extract(t, source(path), model.WriterOptions{})
	require.Equal(t, sqlite.ExtractQueries, st.Queries)

	conntest.Golden(t, filepath.Join("testdata", "sqlite.golden"), conntest.Text(sink.lines()), *update)
}

// The golden file is reviewed by eye once; these assertions pin what the
// review checked, so a careless -update cannot bless a regression.
func TestGoldenFacts(t *testing.T) {
	path := createDB(t, "shop.db", fixtureSQL(t))
	sink, _ := extract(t, source(path), model.WriterOptions{})
	qn := func(parts ...string) string { return model.QualifiedName(testConnection, parts...) }

	// Qualified names are unique per kind.
	for _, k := range model.Kinds {
		seen := map[string]bool{}
		for _, r := range sink.rows[k] {
			name := r["qualified_name"].(string)
			require.False(t, seen[name], "duplicate %s %s", k, name)
			seen[name] = true
		}
	}

	require.Equal(t, 1, sink.count(model.KindDatabase))
	require.Equal(t, qn("shop"), sink.rows[model.KindDatabase][0]["qualified_name"])
	require.Equal(t, testConnection, sink.rows[model.KindDatabase][0]["parent_qualified_name"])
	require.Equal(t, 1, sink.count(model.KindSchema))
	require.Zero(t, sink.count(model.KindRoutine))
	require.Zero(t, sink.count(model.KindLineage))

	kinds := map[string]string{}
	for _, r := range sink.rows[model.KindTable] {
		kinds[r["table_name"].(string)] = r["table_kind"].(string)
	}
	require.Equal(t, "table", kinds["Order Lines/2024"])
	require.Equal(t, "view", kinds["customer_orders"])
	require.Equal(t, "foreign", kinds["product_search"])
	require.Equal(t, "table", kinds["product_search_data"], "shadow tables are tables")
	require.NotContains(t, kinds, "sqlite_stat1")

	lines := qn("shop", "main", "Order Lines/2024")
	require.Equal(t, "default/sqlite/1700000000/shop/main/Order Lines%2F2024", lines)
	view := sink.where(model.KindTable, "qualified_name", qn("shop", "main", "customer_orders"))[0]
	require.Contains(t, view["view_definition"], "CREATE VIEW customer_orders")

	col := func(table, name string) map[string]any {
		rows := sink.where(model.KindColumn, "qualified_name", qn("shop", "main", table, name))
		require.Len(t, rows, 1, "column %s.%s", table, name)
		return rows[0]
	}
	require.Equal(t, false, col("customers", "id")["is_nullable"], "INTEGER PRIMARY KEY is the rowid")
	require.Equal(t, true, col("products", "sku")["is_nullable"], "a TEXT primary key of a rowid table accepts NULL in SQLite")
	require.Equal(t, true, col("Order Lines/2024", "order_id")["is_primary_key"])
	require.Equal(t, true, col("Order Lines/2024", "order_id")["is_foreign_key"])
	require.Equal(t, false, col("Order Lines/2024", "qty")["is_foreign_key"])
	require.Equal(t, true, col("Order Lines/2024", "total")["is_generated"])
	require.Equal(t, true, col("orders", "placed_day")["is_generated"])
	require.Equal(t, true, col("orders", "customer_id")["is_foreign_key"])
	require.Equal(t, "'active'", col("customers", "status")["default_value"])
	require.Equal(t, "1 + 2", col("untyped", "b")["default_value"])
	require.Equal(t, "", col("untyped", "a")["data_type"])
	require.Equal(t, int64(3), col("Ümlaut 表", "100%")["ordinal"])
	require.Equal(t, "default/sqlite/1700000000/shop/main/Ümlaut 表/100%25", col("Ümlaut 表", "100%")["qualified_name"])
	require.Len(t, sink.where(model.KindColumn, "table_name", "customer_orders"), 3)

	con := func(table, name string) map[string]any {
		rows := sink.where(model.KindConstraint, "qualified_name", qn("shop", "main", table, name))
		require.Len(t, rows, 1, "constraint %s.%s", table, name)
		return rows[0]
	}
	require.Equal(t, []string{"order_id", "line_no"}, con("Order Lines/2024", "Order Lines/2024_pkey")["columns"])
	fk := con("Order Lines/2024", "Order Lines/2024_sku_fkey")
	require.Equal(t, qn("shop", "main", "products"), fk["referenced_table_qualified_name"])
	require.Equal(t, []string{"sku"}, fk["referenced_columns"], "implicit reference to the parent's primary key")
	fk = con("orders", "orders_customer_id_fkey")
	require.Equal(t, qn("shop", "main", "customers"), fk["referenced_table_qualified_name"], "parent name in its created case")
	require.Equal(t, "CASCADE", fk["on_update"])
	require.Equal(t, "SET NULL", con("orders", "orders_billing_id_fkey")["on_delete"])
	fk = con("shipments", "shipments_order_id_line_no_fkey")
	require.Equal(t, []string{"order_id", "line_no"}, fk["columns"])
	require.Equal(t, []string{"order_id", "line_no"}, fk["referenced_columns"])
	require.Equal(t, "unique", con("products", "sqlite_autoindex_products_2")["constraint_type"])
	require.Empty(t, sink.where(model.KindConstraint, "constraint_type", "check"))

	idx := func(table, name string) map[string]any {
		rows := sink.where(model.KindIndex, "qualified_name", qn("shop", "main", table, name))
		require.Len(t, rows, 1, "index %s.%s", table, name)
		return rows[0]
	}
	require.Equal(t, []string{"(expression)"}, idx("customers", "customers_email_lower")["columns"])
	require.Equal(t, true, idx("customers", "customers_email_lower")["is_unique"])
	require.Equal(t, []string{"customer_id", "placed_at"}, idx("orders", "orders_customer_placed")["columns"])
	require.Equal(t, nil, idx("orders", "orders_unbilled")["predicate"])
	require.Equal(t, true, idx("Order Lines/2024", "sqlite_autoindex_Order Lines/2024_1")["is_primary"])
	require.Equal(t, qn("shop", "main", "Ümlaut 表", "idx/odd.name"), idx("Ümlaut 表", "idx/odd.name")["qualified_name"])

	stats := func(table string) any {
		rows := sink.where(model.KindTableStats, "qualified_name", qn("shop", "main", table))
		require.Len(t, rows, 1, "stats of %s", table)
		return rows[0]["row_count"]
	}
	require.Equal(t, int64(4), stats("Order Lines/2024"))
	require.Equal(t, int64(3), stats("untyped"), "table without indexes")
	require.Equal(t, nil, stats("kv"), "empty tables get no sqlite_stat1 entry")
	require.Empty(t, sink.where(model.KindTableStats, "table_name", "customer_orders"), "views have no stats")
}
