package mysql

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector/internal/conntest"
)

// TestLineageMariaDB: MariaDB has no VIEW_TABLE_USAGE, so Extract emits no
// lineage (never guessed from view SQL) and Preflight says why.
func TestLineageMariaDB(t *testing.T) {
	f := loadFixture(t)
	sink, _ := extract(t, f.source(), nil, model.WriterOptions{})
	require.Zero(t, count(sink, model.KindLineage))
	require.Equal(t, "warn", string(preflight(t, f.source(), nil)[CheckLineage].Status))
}

// TestLineageFromViewTableUsage runs the tables statement as it is sent to
// MySQL 8, against a stand-in table shaped like VIEW_TABLE_USAGE (the test
// server may not have one): a view with two sources yields one table row
// and two lineage edges, and a source's kind comes from the catalog.
func TestLineageFromViewTableUsage(t *testing.T) {
	f := loadFixture(t)
	meta := quoteIdent(f.prefix + "meta")
	sales, odd := f.prefix+"sales", f.prefix+"Odd/Sch.ema ü"
	_, err := f.db.Exec("CREATE DATABASE " + meta + "; CREATE TABLE " + meta + ".vtu (VIEW_SCHEMA VARCHAR(64), VIEW_NAME VARCHAR(64)," +
		" TABLE_SCHEMA VARCHAR(64), TABLE_NAME VARCHAR(64)) CHARACTER SET utf8mb3")
	require.NoError(t, err)
	_, err = f.db.Exec("INSERT INTO "+meta+".vtu VALUES (?, 'v_customer_orders', ?, 'customers'), (?, 'v_customer_orders', ?, 'orders'),"+
		" (?, 'v/odd.view', ?, 'Ümlaut 表'), (?, 'v/odd.view', ?, 'v_customer_orders')",
		sales, sales, sales, sales, odd, odd, odd, sales)
	require.NoError(t, err)

	c, err := Open(t.Context(), f.source(), nil)
	require.NoError(t, err)
	defer c.Close()
	conn, err := c.(*Conn).connect(t.Context())
	require.NoError(t, err)
	defer conn.Close()
	sink := &conntest.Sink{}
	defer sink.Release()
	w, err := model.NewWriter(sink, model.WriterOptions{JobID: "job-1"})
	require.NoError(t, err)

	q := &counter{conn: conn}
	info := serverInfo{viewTableUsage: true}
	require.NoError(t, c.(*Conn).scope.readTablesFrom(t.Context(), q, info, w, meta+".vtu"))
	require.NoError(t, w.Close())
	require.Equal(t, 1, q.n)

	n := func(schema, table string) string { return f.scopeNames(schema, table) }
	var edges []string
	for _, r := range sink.Rows() {
		if r.Kind == model.KindLineage {
			require.Equal(t, r.Fields["parent_qualified_name"], n(r.Fields["schema_name"].(string), r.Fields["view_name"].(string)))
			edges = append(edges, r.Fields["view_name"].(string)+" <- "+r.Fields["source_qualified_name"].(string)+" ("+r.Fields["source_kind"].(string)+")")
		}
	}
	require.ElementsMatch(t, []string{
		"v_customer_orders <- " + n(sales, "customers") + " (table)",
		"v_customer_orders <- " + n(sales, "orders") + " (table)",
		"v/odd.view <- " + n(odd, "Ümlaut 表") + " (table)",
		"v/odd.view <- " + n(sales, "v_customer_orders") + " (view)",
	}, edges)
	require.Equal(t, 11, count(sink, model.KindTable), "each view is one table row however many sources it has")
}

func (f fixture) scopeNames(schema, table string) string {
	return model.Names{Connection: testConnection, Database: DatabaseName, Schema: schema, Table: table}.TableQN()
}
