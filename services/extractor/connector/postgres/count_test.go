package postgres

import (
	"fmt"
	"strings"
	"testing"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/stretchr/testify/require"
)

// manyTables adds n tables to schema bulk, each with a foreign key to the
// previous one, an index, a comment, and a view over every tenth.
func manyTables(n int) string {
	var b strings.Builder
	b.WriteString("CREATE SCHEMA bulk;\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "CREATE TABLE bulk.t%03d (id int PRIMARY KEY, prev int%s, name text DEFAULT 'x', at date);\n",
			i, map[bool]string{true: "", false: fmt.Sprintf(" REFERENCES bulk.t%03d", i-1)}[i == 0])
		fmt.Fprintf(&b, "CREATE INDEX ON bulk.t%03d (name, at);\nCOMMENT ON TABLE bulk.t%03d IS 'table %d';\n", i, i, i)
		if i%10 == 0 {
			fmt.Fprintf(&b, "CREATE VIEW bulk.v%03d AS SELECT * FROM bulk.t%03d;\n", i, i)
		}
	}
	return b.String()
}

// The statement count depends on the number of databases only.
func TestQueryCountIsFixed(t *testing.T) {
	t.Parallel()
	small := newDatabase(t, fixtureSQL(t))
	large := newDatabase(t, fixtureSQL(t), manyTables(60))

	smallSink, smallStats := extract(t, source(small), model.WriterOptions{})
	largeSink, largeStats := extract(t, source(large), model.WriterOptions{})
	require.Greater(t, len(names(largeSink, model.KindTable, "table_name")), len(names(smallSink, model.KindTable, "table_name"))+60)
	require.Equal(t, QueriesFixed+QueriesPerDatabase, smallStats.Queries)
	require.Equal(t, smallStats.Queries, largeStats.Queries)
	require.Equal(t, 16, largeStats.Queries, "the documented constant changed: update queries.go and the docs")

	_, bothStats := extract(t, source(small, large), model.WriterOptions{})
	require.Equal(t, QueriesFixed+2*QueriesPerDatabase, bothStats.Queries)
}
