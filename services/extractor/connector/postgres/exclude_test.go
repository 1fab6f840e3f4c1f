package postgres

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/stretchr/testify/require"
)

func TestExcludeFields(t *testing.T) {
	t.Parallel()
	db := newDatabase(t, fixtureSQL(t))
	excluded := []string{"comment", "view_definition", "definition", "default_value"}

	full, _ := extract(t, source(db), model.WriterOptions{})
	src := source(db)
	src.ExcludeFields = excluded
	minimized, _ := extract(t, src, model.WriterOptions{})

	// The fixture has values for each excluded field, so the test can fail.
	nonNull := map[string]int{}
	for _, r := range full.Rows() {
		for _, f := range excluded {
			if r.Fields[f] != nil {
				nonNull[f]++
			}
		}
	}
	for _, f := range excluded {
		require.NotZero(t, nonNull[f], "fixture has no %s", f)
	}

	// Nulling the excluded fields of the full output gives the minimized one.
	want := lines(full, db)
	for i, l := range want {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		for k := range m {
			if slices.Contains(excluded, k) {
				m[k] = nil
			}
		}
		b, err := json.Marshal(m)
		require.NoError(t, err)
		want[i] = string(b)
	}
	slices.Sort(want)
	got := lines(minimized, db)
	slices.Sort(got)
	require.Equal(t, want, got)
}
