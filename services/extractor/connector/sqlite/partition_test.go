package sqlite_test

import (
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// Partitions of main by ranges of table names extract together exactly
// what main extracts: each table and everything in it once, the schema and
// database rows from the first range only.
func TestTableRangesUnionEqualsWhole(t *testing.T) {
	src := source(createDB(t, "ranges.db", fixtureSQL(t)))
	src.Schemas = []string{"main"}
	whole, wholeSt := extract(t, src, model.WriterOptions{})
	var union []string
	for i, r := range []connector.TableRange{{Before: "o"}, {From: "o", Before: "s"}, {From: "s"}} {
		p := src
		p.Tables = r
		res, st := extract(t, p, model.WriterOptions{})
		require.Equal(t, wholeSt.Queries, st.Queries)
		require.NotZero(t, res.count(model.KindTable), "range %d", i)
		for _, row := range res.rows[model.KindTable] {
			require.True(t, r.Has(row["table_name"].(string)), "range %d holds %v", i, row["table_name"])
		}
		owns := i == 0
		require.Equal(t, owns, res.count(model.KindSchema) == 1, "range %d and the schema row", i)
		require.Equal(t, owns, res.count(model.KindDatabase) == 1, "range %d and the database row", i)
		for _, l := range res.lines() {
			require.NotContains(t, union, l, "a row extracted by two ranges")
		}
		union = append(union, res.lines()...)
	}
	want := whole.lines()
	sort.Strings(union)
	sort.Strings(want)
	require.Equal(t, want, union)
}
