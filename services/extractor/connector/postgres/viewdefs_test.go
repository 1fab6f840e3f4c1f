package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/stretchr/testify/require"
)

// chunkedViews creates n views spread over two schemas, named so that
// tables, views and materialized views interleave in the tables
// statement's order, and every seventh one in a schema the filter drops.
func chunkedViews(n int, withVZ bool) string {
	var b strings.Builder
	b.WriteString("CREATE SCHEMA va; CREATE SCHEMA vb; CREATE SCHEMA vz;\n")
	for i := 0; i < n; i++ {
		s := []string{"va", "vb"}[i%2]
		if withVZ && i%7 == 3 {
			s = "vz"
		}
		fmt.Fprintf(&b, "CREATE TABLE %s.r%04d (id int, note text);\n", s, i)
		if i%5 == 0 {
			fmt.Fprintf(&b, "CREATE MATERIALIZED VIEW %s.r%04dm AS SELECT id, %d AS n FROM %s.r%04d WITH NO DATA;\n", s, i, i, s, i)
		} else {
			fmt.Fprintf(&b, "CREATE VIEW %s.r%04dv AS SELECT id, note || '%d' AS n FROM %s.r%04d;\n", s, i, i, s, i)
		}
	}
	return b.String()
}

// View definitions are read ViewDefChunk views per short transaction on
// the extraction's snapshot: every definition arrives, on the right view,
// with one chunk per ViewDefChunk views begun (an exactly full last chunk
// included), and the filters still drop what they drop.
func TestViewDefinitionsInChunks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		views   int
		exclude bool
	}{{2 * ViewDefChunk, false}, {2*ViewDefChunk + 40, true}} {
		t.Run(fmt.Sprintf("%d views, exclusions %v", tc.views, tc.exclude), func(t *testing.T) {
			t.Parallel()
			n := tc.views
			db := newDatabase(t, chunkedViews(n, tc.exclude))
			src := source(db)
			if tc.exclude {
				src.Filters = connector.Filters{ExcludeSchemas: []string{db + `\.vz`}}
			}
			sink, st := extract(t, src, model.WriterOptions{})

			want := serverViewDefs(t, db)
			got := map[string]string{}
			for _, r := range sink.Rows() {
				if r.Kind != model.KindTable {
					continue
				}
				k, _ := r.Fields["table_kind"].(string)
				def, _ := r.Fields["view_definition"].(string)
				name := fmt.Sprint(r.Fields["schema_name"], ".", r.Fields["table_name"])
				if k == model.TableKindView || k == model.TableKindMaterializedView {
					got[name] = def
				} else {
					require.Nil(t, r.Fields["view_definition"], "%s is a %s", name, k)
				}
			}
			if tc.exclude {
				require.Len(t, want, n-(n+3)/7)
			} else {
				require.Len(t, want, n)
			}
			require.Equal(t, want, got)

			// The exclusion is pushed into both statements: the chunks
			// read the views outside vz; an empty database still reads one.
			chunks := max(1, (len(want)+ViewDefChunk-1)/ViewDefChunk)
			require.Equal(t, QueriesFixed+QueriesPerDatabase+(chunks-1)*QueriesPerViewChunk, st.Queries)
		})
	}
}

// The same catalog with view_definition excluded: no snapshot, no second
// connection, no definitions.
func TestViewDefinitionsExcluded(t *testing.T) {
	t.Parallel()
	db := newDatabase(t, chunkedViews(20, false))
	src := source(db)
	src.ExcludeFields = []string{"view_definition"}
	sink, st := extract(t, src, model.WriterOptions{})
	require.Equal(t, QueriesFixed+QueriesPerDatabase-1-QueriesPerViewChunk, st.Queries)
	for _, r := range sink.Rows() {
		if r.Kind == model.KindTable {
			require.Nil(t, r.Fields["view_definition"])
		}
	}
}

// serverViewDefs is pg_get_viewdef of every view outside schema vz, by
// schema.name, as the server prints it.
func serverViewDefs(t *testing.T, db string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbDSN(db))
	require.NoError(t, err)
	defer func() { _ = conn.Close(ctx) }()
	rows, err := conn.Query(ctx, `SELECT n.nspname || '.' || c.relname, pg_get_viewdef(c.oid, true)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('v', 'm') AND n.nspname IN ('va', 'vb')`)
	require.NoError(t, err)
	out := map[string]string{}
	for rows.Next() {
		var name, def string
		require.NoError(t, rows.Scan(&name, &def))
		out[name] = def
	}
	require.NoError(t, rows.Err())
	return out
}
