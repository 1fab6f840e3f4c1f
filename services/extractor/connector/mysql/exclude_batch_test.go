package mysql

import (
	"encoding/json"
	"slices"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector/internal/conntest"
)

// TestExcludeFields: excluded fields are null everywhere, nothing else
// changes.
func TestExcludeFields(t *testing.T) {
	f := loadFixture(t)
	excluded := []string{"comment", "view_definition", "definition", "default_value"}
	base, _ := extract(t, f.source(), nil, model.WriterOptions{})

	src := f.source()
	src.ExcludeFields = excluded
	got, _ := extract(t, src, nil, model.WriterOptions{})

	// The fixture has a value for each field, so the test can fail.
	rows := base.Rows()
	for _, field := range excluded {
		found := false
		for _, r := range rows {
			if v, ok := r.Fields[field]; ok && v != nil {
				found = true
				break
			}
		}
		require.True(t, found, "fixture has no %s value", field)
	}
	for i := range rows {
		for _, field := range excluded {
			if _, ok := rows[i].Fields[field]; ok {
				rows[i].Fields[field] = nil
			}
		}
	}
	require.Equal(t, rowSet(t, rows), rowSet(t, got.Rows()))
}

// rowSet renders rows as a sorted list of JSON lines without the volatile
// fields.
func rowSet(t *testing.T, rows []conntest.Row) []string {
	t.Helper()
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		m := map[string]any{"kind": r.Kind}
		for k, v := range r.Fields {
			if !slices.Contains(conntest.Volatile, k) {
				m[k] = v
			}
		}
		b, err := json.Marshal(m)
		require.NoError(t, err)
		out = append(out, string(b))
	}
	sort.Strings(out)
	return out
}

// TestBatching: with MaxRows 3 the sink gets many small batches holding
// the same rows.
func TestBatching(t *testing.T) {
	f := loadFixture(t)
	big, _ := extract(t, f.source(), nil, model.WriterOptions{})
	small, _ := extract(t, f.source(), nil, model.WriterOptions{MaxRows: 3})

	require.Equal(t, conntest.Text(f.lines(big)), conntest.Text(f.lines(small)))
	for _, k := range model.Kinds {
		for _, n := range small.Batches(k) {
			require.LessOrEqual(t, n, 3, "%s batch", k)
		}
	}
	require.Greater(t, len(small.Batches(model.KindColumn)), 10)
	require.Len(t, big.Batches(model.KindColumn), 1)
}
