package postgres

import (
	"context"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/internal/conntest"
	"github.com/stretchr/testify/require"
)

// Two partitions with disjoint schema groups that cover a database extract
// together exactly what the whole database extracts (the database row
// once), each with the same fixed number of statements.
func TestSchemaPartitionsUnionEqualsWhole(t *testing.T) {
	t.Parallel()
	db := newDatabase(t, fixtureSQL(t), "CREATE SCHEMA empty_one; CREATE SCHEMA bulk_a; CREATE TABLE bulk_a.t1 (id int);")
	dbRE := regexp.QuoteMeta(db)
	tests := []struct {
		name    string
		filters connector.Filters
		a, b    []string
	}{
		{
			name: "no filters; the database row comes from the group with the first schema",
			a:    []string{"bulk_a", "empty_one", "sales", "Ümlaut 表"},
			b:    []string{"inventory", "public", "we/ird.schema"},
		},
		{
			name: "filters and groups combined",
			filters: connector.Filters{
				ExcludeSchemas: []string{dbRE + `\.(bulk_a|empty_one)`},
				ExcludeTables:  []string{`sales\.order.*`},
				TempTables:     `tmp_.*`,
			},
			a: []string{"bulk_a", "inventory", "public", "we/ird.schema"},
			b: []string{"empty_one", "sales", "Ümlaut 表"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := source(db)
			src.Filters = tc.filters
			whole, wholeSt := extract(t, src, model.WriterOptions{})

			pa, pb := src, src
			pa.Schemas, pb.Schemas = tc.a, tc.b
			sa, stA := extract(t, pa, model.WriterOptions{})
			sb, stB := extract(t, pb, model.WriterOptions{})

			la, lb := lines(sa, db), lines(sb, db)
			require.NotEmpty(t, tableNames(sa))
			require.NotEmpty(t, tableNames(sb))
			for _, l := range la {
				require.NotContains(t, lb, l, "a row extracted by both partitions")
			}
			union := append(append([]string(nil), la...), lb...)
			want := lines(whole, db)
			sort.Strings(union)
			sort.Strings(want)
			require.Equal(t, want, union)
			require.Len(t, names(sa, model.KindDatabase, "database_name"), 1, "the group with the first selected schema writes the database row")
			require.Empty(t, names(sb, model.KindDatabase, "database_name"))

			require.Equal(t, QueriesFixed+QueriesPerDatabase, wholeSt.Queries)
			require.Equal(t, wholeSt.Queries, stA.Queries)
			require.Equal(t, wholeSt.Queries, stB.Queries)
		})
	}
}

// The schema list is pushed into SQL: without the Go re-check the
// statements alone select the group's tables.
func TestSchemaListPushdownAlone(t *testing.T) {
	t.Parallel()
	db := newDatabase(t, fixtureSQL(t))
	src := source(db)
	src.Schemas = []string{"inventory", "Ümlaut 表"}
	conn := open(t, src).(*Connector)
	conn.schemas = connector.SchemaSet{} // SQL only
	sink := extractWith(t, conn)
	want := slices.Concat(matching(fixtureTables, `inventory\..*`), matching(fixtureTables, `Ümlaut 表\..*`))
	sort.Strings(want)
	require.Equal(t, want, tableNames(sink))
}

func TestPlan(t *testing.T) {
	t.Parallel()
	db := newDatabase(t, fixtureSQL(t), "CREATE SCHEMA empty_one;", manyTables(12))
	other := newDatabase(t, "CREATE SCHEMA solo; CREATE TABLE solo.a (id int); CREATE VIEW solo.v AS SELECT 1 AS x;")
	tests := []struct {
		name    string
		dbs     []string
		filters connector.Filters
		schemas []string
	}{
		{name: "one database", dbs: []string{db}},
		{name: "two databases", dbs: []string{db, other}},
		{name: "filters", dbs: []string{db, other}, filters: connector.Filters{
			ExcludeSchemas: []string{regexp.QuoteMeta(db) + `\.inventory`},
			ExcludeTables:  []string{`bulk\.t00.*`},
			TempTables:     `tmp_.*`,
		}},
		{name: "schema list", dbs: []string{db}, schemas: []string{"bulk", "empty_one"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := source(tc.dbs...)
			src.Filters, src.Schemas = tc.filters, tc.schemas
			c := open(t, src).(*Connector)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var st connector.Stats
			plan, err := c.plan(ctx, &st)
			require.NoError(t, err)
			require.Equal(t, QueriesFixed+PlanQueriesPerDatabase*len(tc.dbs), st.Queries)

			// The plan counts exactly the tables and schemas an extraction writes.
			sink, _ := extract(t, src, model.WriterOptions{})
			want := map[string]map[string]int{}
			for _, r := range sink.Rows() {
				dbName, schema := r.Fields["database_name"].(string), r.Fields["schema_name"]
				switch r.Kind {
				case model.KindSchema:
					if want[dbName] == nil {
						want[dbName] = map[string]int{}
					}
					want[dbName][r.Fields["schema_name"].(string)] += 0
				case model.KindTable:
					want[dbName][schema.(string)]++
				}
			}
			got := map[string]map[string]int{}
			var order []string
			for _, d := range plan {
				order = append(order, d.Name)
				got[d.Name] = map[string]int{}
				for i, s := range d.Schemas {
					got[d.Name][s.Name] = s.Tables
					if i > 0 {
						require.Less(t, d.Schemas[i-1].Name, s.Name, "schemas in name order")
					}
				}
			}
			require.Equal(t, want, got)
			require.True(t, slices.IsSorted(order))
			require.Len(t, plan, len(tc.dbs))
		})
	}
}

func TestPlanUnreachable(t *testing.T) {
	t.Parallel()
	src := source()
	src.DSN = "postgres://postgres@127.0.0.1:1/postgres"
	src.ConnectTimeout = 2 * time.Second
	c := open(t, src).(*Connector)
	_, err := c.Plan(context.Background())
	require.ErrorContains(t, err, "cannot connect to PostgreSQL at 127.0.0.1:1")
}

// extractWith runs an extraction with an opened (and possibly adjusted)
// connector.
func extractWith(t *testing.T, conn *Connector) *conntest.Sink {
	t.Helper()
	sink := &conntest.Sink{}
	t.Cleanup(sink.Release)
	w, err := model.NewWriter(sink, model.WriterOptions{JobID: "j"})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = conn.Extract(ctx, w)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return sink
}

// Three partitions of one schema by ranges of table names extract together
// exactly what the schema extracts: each table and everything in it once,
// the schema's row, its routines and the database row from the first
// range only; the range is pushed into SQL.
func TestTableRangesUnionEqualsWhole(t *testing.T) {
	t.Parallel()
	db := newDatabase(t, fixtureSQL(t), manyTables(12), "CREATE FUNCTION bulk.f() RETURNS int LANGUAGE sql AS 'SELECT 1';")
	src := source(db)
	src.Schemas = []string{"bulk"}
	whole, wholeSt := extract(t, src, model.WriterOptions{})
	ranges := []connector.TableRange{{Before: "t004"}, {From: "t004", Before: "v"}, {From: "v"}}
	var union []string
	for i, r := range ranges {
		p := src
		p.Tables = r
		sink, st := extract(t, p, model.WriterOptions{})
		require.Equal(t, wholeSt.Queries, st.Queries)
		require.NotEmpty(t, tableNames(sink), "range %d", i)
		for _, tb := range tableNames(sink) {
			require.True(t, r.Has(strings.TrimPrefix(tb, "bulk.")), "range %d holds %s", i, tb)
		}
		owns := i == 0
		require.Equal(t, owns, len(names(sink, model.KindSchema, "schema_name")) == 1, "range %d and the schema row", i)
		require.Equal(t, owns, len(names(sink, model.KindDatabase, "database_name")) == 1, "range %d and the database row", i)
		require.Equal(t, owns, len(names(sink, model.KindRoutine, "name")) == 1, "range %d and the routine", i)
		for _, l := range lines(sink, db) {
			require.NotContains(t, union, l, "a row extracted by two ranges")
		}
		union = append(union, lines(sink, db)...)

		// SQL alone narrows to the range.
		conn := open(t, p).(*Connector)
		conn.schemas = connector.SchemaSet{}
		alone := extractWith(t, conn)
		for _, tb := range tableNames(alone) {
			require.True(t, strings.HasPrefix(tb, "bulk.") && r.Has(strings.TrimPrefix(tb, "bulk.")), "SQL of range %d returned %s", i, tb)
		}
	}
	want := lines(whole, db)
	sort.Strings(union)
	sort.Strings(want)
	require.Equal(t, want, union)
}
