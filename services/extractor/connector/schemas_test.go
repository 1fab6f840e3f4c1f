package connector

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSchemaSet(t *testing.T) {
	all := NewSchemaSet(nil)
	require.False(t, all.Restricted())
	require.True(t, all.Has("anything"))
	require.Nil(t, all.List())
	require.True(t, all.OwnsDatabase("", false), "without a list the database row is always written")

	set := NewSchemaSet([]string{"sales", "Hr", "sales"})
	require.True(t, set.Restricted())
	require.True(t, set.Has("sales"))
	require.False(t, set.Has("hr"), "names compare exactly")
	require.Equal(t, []string{"Hr", "sales"}, set.List())

	tests := []struct {
		first string
		any   bool
		want  bool
	}{
		{"Hr", true, true},
		{"accounts", true, false},
		{"", false, false},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, set.OwnsDatabase(tc.first, tc.any), "%+v", tc)
	}

	var f FirstName
	for _, n := range []string{"m", "b", "z", "b"} {
		f.See(n)
	}
	require.Equal(t, FirstName{Name: "b", Seen: true}, f)
}

func TestSourceSchemasValidated(t *testing.T) {
	src := Source{Kind: "postgres", Connection: "c", DSN: "postgres://h/db", Schemas: []string{"a", ""}}
	require.ErrorContains(t, src.Validate(), "schemas[1] is empty")
}

func TestDatabasePlanTables(t *testing.T) {
	require.Equal(t, 5, DatabasePlan{Schemas: []SchemaPlan{{"a", 2}, {"b", 3}, {"c", 0}}}.Tables())
}
