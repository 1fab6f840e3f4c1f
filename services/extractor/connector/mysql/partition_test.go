package mysql

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// Two partitions with disjoint schema groups that cover the source
// extract together exactly what the whole source extracts (the database
// row once), each with the same fixed number of statements.
func TestSchemaPartitionsUnionEqualsWhole(t *testing.T) {
	f := loadFixture(t)
	empty := f.prefix + "empty"
	_, err := f.db.Exec("CREATE DATABASE " + quoteIdent(empty))
	require.NoError(t, err)
	s := f.schemas() // sales, inventory, "Odd/Sch.ema ü"
	tests := []struct {
		name    string
		filters connector.Filters
		a, b    []string // a holds the first selected schema (byte order)
	}{
		{name: "no filters", a: []string{s[2], s[0]}, b: []string{s[1], empty}},
		{name: "filters and groups combined", filters: connector.Filters{
			ExcludeSchemas: []string{`default\.` + f.prefix + `Odd.*`},
			ExcludeTables:  []string{`.*\.order_items`},
		}, a: []string{s[2], empty, s[1]}, b: []string{s[0]}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := f.source()
			src.Databases = append(src.Databases, empty)
			src.Filters = tc.filters
			whole, wholeSt := extract(t, src, nil, model.WriterOptions{})

			pa, pb := src, src
			pa.Schemas, pb.Schemas = tc.a, tc.b
			sa, stA := extract(t, pa, nil, model.WriterOptions{})
			sb, stB := extract(t, pb, nil, model.WriterOptions{})

			la, lb := f.lines(sa), f.lines(sb)
			require.NotZero(t, count(sa, model.KindTable))
			require.NotZero(t, count(sb, model.KindTable))
			for _, l := range la {
				require.NotContains(t, lb, l, "a row extracted by both partitions")
			}
			union := append(append([]string(nil), la...), lb...)
			want := f.lines(whole)
			sort.Strings(union)
			sort.Strings(want)
			require.Equal(t, want, union)
			require.Equal(t, 1, count(sa, model.KindDatabase), "the group with the first selected schema writes the database row")
			require.Zero(t, count(sb, model.KindDatabase))

			queries := ExtractQueries + ExtractWarningChecks(src.Filters)
			require.Equal(t, queries, wholeSt.Queries)
			require.Equal(t, queries, stA.Queries)
			require.Equal(t, queries, stB.Queries)
		})
	}
}

func TestPlan(t *testing.T) {
	f := loadFixture(t)
	empty := f.prefix + "empty"
	_, err := f.db.Exec("CREATE DATABASE " + quoteIdent(empty))
	require.NoError(t, err)
	big := f.bigSchema(t, 20)
	s := f.schemas()
	tests := []struct {
		name    string
		filters connector.Filters
		schemas []string
	}{
		{name: "everything"},
		{name: "filters", filters: connector.Filters{
			ExcludeSchemas: []string{`default\.` + f.prefix + `inventory`},
			ExcludeTables:  []string{`.*\.t0.*`},
			TempTables:     `tmp_.*`,
		}},
		{name: "schema group", schemas: []string{s[0], empty}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := f.source()
			src.Databases = append(src.Databases, empty, big)
			src.Filters, src.Schemas = tc.filters, tc.schemas
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := Open(ctx, src, nil)
			require.NoError(t, err)
			defer c.Close()
			conn, err := c.(*Conn).connect(ctx)
			require.NoError(t, err)
			defer conn.Close()
			q := &counter{conn: conn}
			plan, err := c.(*Conn).plan(ctx, q)
			require.NoError(t, err)
			require.Equal(t, PlanQueries+PlanWarningChecks(src.Filters), q.n)
			require.Len(t, plan, 1)
			require.Empty(t, plan[0].Name, "the whole server")

			// The plan counts exactly the schemas and the tables and views
			// (not the partitions) an extraction writes.
			sink, _ := extract(t, src, nil, model.WriterOptions{})
			want := map[string]int{}
			for _, r := range sink.Rows() {
				switch {
				case r.Kind == model.KindSchema:
					want[r.Fields["schema_name"].(string)] += 0
				case r.Kind == model.KindTable && r.Fields["table_kind"] != model.TableKindPartition:
					want[r.Fields["schema_name"].(string)]++
				}
			}
			got := map[string]int{}
			for i, sp := range plan[0].Schemas {
				got[sp.Name] = sp.Tables
				if i > 0 {
					require.Less(t, plan[0].Schemas[i-1].Name, sp.Name, "schemas in name order")
				}
			}
			require.Equal(t, want, got)
			require.NotEmpty(t, got)
		})
	}
}

func TestPlanUnreachable(t *testing.T) {
	src := connector.Source{Kind: "mysql", Connection: testConnection, DSN: "root@tcp(127.0.0.1:1)/", ConnectTimeout: 2 * time.Second}
	c, err := Open(context.Background(), src, nil)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.(*Conn).Plan(context.Background())
	require.ErrorContains(t, err, "127.0.0.1:1")
}

// The schema group is pushed into SQL as exact names on every engine (also
// where REGEXP is not pushed).
func TestSchemaGroupPushdown(t *testing.T) {
	for _, pushdown := range []bool{false, true} {
		sc := scope{part: connector.NewSchemaSet([]string{"b", "a"}), filters: &connector.Compiled{}, pushdown: pushdown}
		var w where
		sc.schemaFilter(&w, "TABLE_SCHEMA")
		require.Contains(t, w.sql(), "TABLE_SCHEMA IN (?, ?)")
		require.Equal(t, []any{"a", "b"}, w.args)
	}
}

// Partitions of one schema by ranges of table names extract together
// exactly what the schema extracts: each table and everything in it once,
// the schema's row and routines and the database row from the first range
// only.
func TestTableRangesUnionEqualsWhole(t *testing.T) {
	f := loadFixture(t)
	s := f.schemas() // sales, inventory, "Odd/Sch.ema ü"
	for _, tc := range []struct {
		schema string
		ranges []connector.TableRange
	}{
		{schema: s[0], ranges: []connector.TableRange{{Before: "m"}, {From: "m", Before: "p"}, {From: "p"}}},
		{schema: s[2], ranges: []connector.TableRange{{Before: "N"}, {From: "N"}}},
	} {
		t.Run(tc.schema, func(t *testing.T) {
			src := f.source()
			src.Schemas = []string{tc.schema}
			whole, wholeSt := extract(t, src, nil, model.WriterOptions{})
			var union []string
			for i, r := range tc.ranges {
				p := src
				p.Tables = r
				sink, st := extract(t, p, nil, model.WriterOptions{})
				require.Equal(t, wholeSt.Queries, st.Queries)
				require.NotZero(t, count(sink, model.KindTable), "range %d", i)
				owns := i == 0
				require.Equal(t, owns, count(sink, model.KindSchema) == 1, "range %d and the schema row", i)
				require.Equal(t, owns && count(whole, model.KindDatabase) == 1, count(sink, model.KindDatabase) == 1, "range %d and the database row", i)
				require.Equal(t, owns, count(sink, model.KindRoutine) > 0, "range %d and the routines", i)
				for _, l := range f.lines(sink) {
					require.NotContains(t, union, l, "a row extracted by two ranges")
				}
				union = append(union, f.lines(sink)...)
			}
			want := f.lines(whole)
			sort.Strings(union)
			sort.Strings(want)
			require.Equal(t, want, union)
		})
	}
}
