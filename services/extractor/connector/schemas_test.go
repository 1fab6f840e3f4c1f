package connector

import (
	"fmt"
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
	require.Equal(t, 5, DatabasePlan{Schemas: []SchemaPlan{{Name: "a", Tables: 2}, {Name: "b", Tables: 3}, {Name: "c"}}}.Tables())
}

func TestTableRanges(t *testing.T) {
	whole := NewSchemaSet([]string{"big"})
	first := whole.WithTables(TableRange{Before: "m"})
	middle := whole.WithTables(TableRange{From: "m", Before: "t"})
	last := whole.WithTables(TableRange{From: "t"})
	for _, table := range []string{"", "a", "l", "m", "m\x00", "s\xff", "t", "zz", "é"} {
		n := 0
		for _, p := range []SchemaSet{first, middle, last} {
			if p.HasTable("big", table) {
				n++
			}
			require.False(t, p.HasTable("other", table))
		}
		require.Equal(t, 1, n, "table %q is in exactly one range", table)
		require.True(t, whole.HasTable("big", table))
	}
	require.True(t, first.OwnsSchema("big"))
	require.False(t, middle.OwnsSchema("big"))
	require.False(t, last.OwnsSchema("big"))
	require.True(t, first.OwnsDatabase("big", true))
	require.False(t, last.OwnsDatabase("big", true))

	src := Source{Kind: "postgres", Connection: "c", DSN: "postgres://h/db", Schemas: []string{"a", "b"}, Tables: TableRange{From: "m"}}
	require.ErrorContains(t, src.Validate(), "a range cuts exactly one schema")
	src = Source{Kind: "postgres", Connection: "c", DSN: "postgres://h/db", Schemas: []string{"a"}, Tables: TableRange{From: "m", Before: "m"}}
	require.ErrorContains(t, src.Validate(), "is empty")
}

func TestTallyBounds(t *testing.T) {
	var tally Tally
	tally.Schema("empty")
	for i := 2*BoundEvery + 5; i > 0; i-- {
		tally.Table("big", fmt.Sprintf("t%05d", i))
	}
	tally.Table("small", "x")
	plans := tally.Plans()
	require.Equal(t, []SchemaPlan{
		{Name: "big", Tables: 2*BoundEvery + 5, Bounds: []string{fmt.Sprintf("t%05d", BoundEvery+1), fmt.Sprintf("t%05d", 2*BoundEvery+1)}},
		{Name: "empty"},
		{Name: "small", Tables: 1},
	}, plans)
}
