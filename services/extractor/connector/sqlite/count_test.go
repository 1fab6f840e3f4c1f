package sqlite_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector/sqlite"
)

// largeSchema is n tables chained by foreign keys, each with an index, a
// unique constraint and a view over it.
func largeSchema(n int) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE t0 (id INTEGER PRIMARY KEY, code TEXT UNIQUE);\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "CREATE TABLE t%d (id INTEGER PRIMARY KEY, code TEXT UNIQUE, parent_id INTEGER REFERENCES t%d (id));\n", i, i-1)
		fmt.Fprintf(&b, "CREATE INDEX t%d_parent ON t%d (parent_id);\n", i, i)
		fmt.Fprintf(&b, "CREATE VIEW v%d AS SELECT id, code FROM t%d;\n", i, i)
		fmt.Fprintf(&b, "INSERT INTO t%d (id, code) VALUES (1, 'a'), (2, 'b');\n", i)
	}
	b.WriteString("ANALYZE;\n")
	return b.String()
}

func TestStatementCountIsFixed(t *testing.T) {
	small := createDB(t, "small.db", fixtureSQL(t))
	large := createDB(t, "large.db", largeSchema(60))

	smallSink, smallStats := extract(t, source(small), model.WriterOptions{})
	largeSink, largeStats := extract(t, source(large), model.WriterOptions{})

	// The fixtures really differ in size, so equal counts mean something.
	require.Less(t, smallSink.count(model.KindTable), 20)
	require.Equal(t, 60+59, largeSink.count(model.KindTable))
	require.Equal(t, 59, len(largeSink.where(model.KindConstraint, "constraint_type", "foreign_key")))

	require.Equal(t, sqlite.ExtractQueries, smallStats.Queries)
	require.Equal(t, sqlite.ExtractQueries, largeStats.Queries)

	// Without sqlite_stat1 the other statistics statement runs: same count.
	bare := createDB(t, "bare.db", strings.ReplaceAll(largeSchema(5), "ANALYZE;", ""))
	bareSink, bareStats := extract(t, source(bare), model.WriterOptions{})
	require.Equal(t, sqlite.ExtractQueries, bareStats.Queries)
	require.Equal(t, 5, bareSink.count(model.KindTableStats))
	for _, r := range bareSink.rows[model.KindTableStats] {
		require.Nil(t, r["row_count"])
	}
}
