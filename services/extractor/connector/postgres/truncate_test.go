package postgres

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector/internal/conntest"
	"github.com/stretchr/testify/require"
)

// longText is 400 bytes in 200 characters: SQL cuts characters, the
// Writer bytes, and a value must come out whole-charactered either way.
var longText = strings.Repeat("é", 200)

// longTextSQL puts longText into every free-text attribute PostgreSQL has.
var longTextSQL = strings.NewReplacer("LONG", longText).Replace(`
CREATE SCHEMA s;
COMMENT ON SCHEMA s IS 'LONG';
CREATE TABLE s.t (
  a text DEFAULT 'LONG',
  b text GENERATED ALWAYS AS (a || 'LONG') STORED,
  c int CHECK (c > length('LONG')),
  short text DEFAULT 'x');
COMMENT ON TABLE s.t IS 'LONG';
COMMENT ON COLUMN s.t.a IS 'LONG';
CREATE INDEX t_expr ON s.t ((a || 'LONG')) WHERE b <> 'LONG';
CREATE VIEW s.v AS SELECT 'LONG'::text AS x;
CREATE FUNCTION s.f(p text DEFAULT 'LONG') RETURNS text LANGUAGE sql AS $$ SELECT p || 'LONG' $$;
COMMENT ON FUNCTION s.f(text) IS 'LONG';
`)

// TestLongTextIsCutAndMarked compares a capped extraction with an uncapped
// one: every text value longer than the cap is its longest whole-character
// prefix within the cap and is listed in truncated_fields; nothing else
// changes.
func TestLongTextIsCutAndMarked(t *testing.T) {
	t.Parallel()
	db := newDatabase(t, longTextSQL)
	adminExec(t, dbDSN(db), fmt.Sprintf("COMMENT ON DATABASE %s IS '%s'", db, longText))
	const limit = 64
	full, _ := extract(t, source(db), model.WriterOptions{})
	capped, _ := extract(t, source(db), model.WriterOptions{MaxTextBytes: limit})

	want := map[model.Kind]int64{}
	fullRows, cappedRows := full.Rows(), capped.Rows()
	require.Equal(t, len(fullRows), len(cappedRows))
	cut := map[string]bool{} // kind.field seen cut
	for i, f := range fullRows {
		c := cappedRows[i]
		require.Equal(t, f.Kind, c.Kind)
		marked, _ := c.Fields[model.FieldTruncated].([]string)
		var wantMarked []string
		for _, field := range model.TextFields(f.Kind) {
			switch v := f.Fields[field].(type) {
			case string:
				require.Equal(t, model.TruncateText(v, limit), c.Fields[field], "%s %s.%s", f.Kind, f.Fields["qualified_name"], field)
				if len(v) > limit {
					wantMarked = append(wantMarked, field)
				}
			case []string:
				var cutList bool
				for j, e := range v {
					require.Equal(t, model.TruncateText(e, limit), c.Fields[field].([]string)[j])
					cutList = cutList || len(e) > limit
				}
				if cutList {
					wantMarked = append(wantMarked, field)
				}
			default:
				require.Equal(t, v, c.Fields[field])
			}
		}
		if len(wantMarked) == 0 && len(model.TextFields(f.Kind)) > 0 {
			wantMarked = []string{}
		}
		require.Equal(t, wantMarked, marked, "%s %s", f.Kind, f.Fields["qualified_name"])
		require.Empty(t, f.Fields[model.FieldTruncated], "nothing is cut at the default cap")
		want[f.Kind] += int64(len(wantMarked))
		for _, m := range marked {
			cut[string(f.Kind)+"."+m] = true
		}
	}
	// Every free-text attribute PostgreSQL can hold was exercised.
	require.Equal(t, []string{
		"column.comment", "column.default_value", "column.generation_expression",
		"constraint.check_clause", "database.comment",
		"index.columns", "index.predicate",
		"routine.arguments", "routine.comment", "routine.definition",
		"schema.comment", "table.comment", "table.view_definition",
	}, sortedKeys(cut))
	require.Positive(t, want[model.KindColumn])
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestHugeCommentStaysOnTheServer: with 3 × 64 MB of comments, the
// extraction allocates a small fraction of that — the cap is applied in
// SQL, so the values never cross the wire. Not parallel: it reads the
// process's allocation counter.
func TestHugeCommentStaysOnTheServer(t *testing.T) {
	db := newDatabase(t, `
CREATE TABLE t1 (id int); CREATE TABLE t2 (id int); CREATE TABLE t3 (id int);
DO $$ BEGIN
  EXECUTE format('COMMENT ON TABLE t1 IS %L', repeat('a', 64000000));
  EXECUTE format('COMMENT ON TABLE t2 IS %L', repeat('b', 64000000));
  EXECUTE format('COMMENT ON COLUMN t3.id IS %L', repeat('c', 64000000));
END $$;`)
	c := open(t, source(db))
	sink := &conntest.Sink{}
	t.Cleanup(sink.Release)
	w, err := model.NewWriter(sink, model.WriterOptions{JobID: "job-1"})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = c.Extract(ctx, w)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	runtime.ReadMemStats(&after)

	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d bytes for 192 MB of comments", allocated)
	require.Less(t, allocated, uint64(48<<20), "a 64 MB comment crossed the wire")
	require.Equal(t, map[model.Kind]int64{model.KindTable: 2, model.KindColumn: 1}, w.Truncated())
	for _, r := range sink.Rows() {
		if r.Kind == model.KindTable || r.Kind == model.KindColumn {
			if s, ok := r.Fields["comment"].(string); ok {
				require.Len(t, s, model.DefaultMaxTextBytes)
			}
		}
	}
}
