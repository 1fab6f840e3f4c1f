package sqlite_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
)

func TestExcludeFields(t *testing.T) {
	path := createDB(t, "shop.db", fixtureSQL(t))
	excluded := []string{"comment", "view_definition", "definition", "default_value"}

	base, _ := extract(t, source(path), model.WriterOptions{})
	got, _ := extract(t, source(path), model.WriterOptions{ExcludeFields: excluded})

	// The fixture has values in the fields, so nulling them is visible.
	require.NotEmpty(t, base.where(model.KindTable, "table_kind", "view")[0]["view_definition"])
	require.NotEmpty(t, base.where(model.KindColumn, "column_name", "status")[0]["default_value"])

	require.Equal(t, expected(t, base, excluded), got.lines())
}

func TestBatching(t *testing.T) {
	path := createDB(t, "shop.db", fixtureSQL(t))
	base, _ := extract(t, source(path), model.WriterOptions{})
	small, _ := extract(t, source(path), model.WriterOptions{MaxRows: 3})

	require.Equal(t, base.lines(), small.lines())
	for k, rows := range small.rows {
		require.Equal(t, (len(rows)+2)/3, small.batches(k), "%s: %d rows in batches of 3", k, len(rows))
		for _, n := range small.sink.Batches(k) {
			require.LessOrEqual(t, n, 3)
		}
	}
	require.Greater(t, small.batches(model.KindColumn), 10)
	require.Equal(t, 1, base.batches(model.KindColumn))
}

// expected is base's lines with the excluded fields set to null wherever
// the kind has them.
func expected(t *testing.T, base *result, excluded []string) []string {
	t.Helper()
	var out []string
	for _, line := range base.lines() {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m))
		for _, f := range excluded {
			if _, ok := m[f]; ok {
				m[f] = nil
			}
		}
		b, err := json.Marshal(m)
		require.NoError(t, err)
		out = append(out, string(b))
	}
	return out
}
