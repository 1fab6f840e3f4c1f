package sqlite_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/sqlite"
)

func TestPlan(t *testing.T) {
	path := createDB(t, "shop.db", fixtureSQL(t))
	tests := []struct {
		name    string
		filters connector.Filters
		schemas []string
		dbs     []string
	}{
		{name: "everything"},
		{name: "filters", filters: connector.Filters{ExcludeTables: []string{`main\.[a-m].*`}}},
		{name: "schema main", schemas: []string{"main"}, dbs: []string{"catalog_name"}},
		{name: "schema filter leaves nothing", filters: connector.Filters{IncludeSchemas: []string{`other\.main`}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := source(path)
			src.Filters, src.Schemas, src.Databases = tc.filters, tc.schemas, tc.dbs
			c := open(t, src)
			plan, err := c.(connector.Planner).Plan(context.Background())
			require.NoError(t, err)
			require.Len(t, plan, 1)

			// The plan names the database and counts exactly the schemas and
			// tables an extraction writes.
			res, _ := extract(t, src, model.WriterOptions{})
			wantDB := "shop"
			if len(tc.dbs) > 0 {
				wantDB = tc.dbs[0]
			}
			require.Equal(t, wantDB, plan[0].Name)
			want := map[string]int{}
			for _, s := range res.rows[model.KindSchema] {
				want[s["schema_name"].(string)] += 0
			}
			for _, tb := range res.rows[model.KindTable] {
				want[tb["schema_name"].(string)]++
			}
			got := map[string]int{}
			for _, s := range plan[0].Schemas {
				got[s.Name] = s.Tables
			}
			require.Equal(t, want, got)
		})
	}
}

// SQLite has the one schema "main": a group holding it extracts the whole
// file, any other group nothing (not even the database row).
func TestSchemaGroup(t *testing.T) {
	path := createDB(t, "shop.db", fixtureSQL(t))
	whole, wholeSt := extract(t, source(path), model.WriterOptions{})

	src := source(path)
	src.Schemas = []string{"main"}
	main, mainSt := extract(t, src, model.WriterOptions{})
	require.Equal(t, whole.lines(), main.lines())
	require.Equal(t, wholeSt.Queries, mainSt.Queries)
	require.Equal(t, sqlite.ExtractQueries, mainSt.Queries)

	src.Schemas = []string{"other"}
	none, noneSt := extract(t, src, model.WriterOptions{})
	require.Empty(t, none.lines())
	require.Equal(t, sqlite.ExtractQueries, noneSt.Queries)
}
