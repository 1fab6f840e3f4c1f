package mysql

import (
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/stretchr/testify/require"
)

// longText is 400 bytes in 200 characters: SQL cuts characters, the
// Writer bytes.
var longText = strings.Repeat("é", 200)

// newLongTextSchema creates a schema whose every free-text attribute the
// engine can hold is longText (comments are limited by MariaDB itself:
// 2048 characters for tables, 1024 for columns and schemas).
func newLongTextSchema(t *testing.T) connector.Source {
	t.Helper()
	db := admin(t)
	prefix := "sa_my_" + randomHex(t, 4) + "_"
	t.Cleanup(func() { dropPrefixed(t, db, prefix) })
	schema := prefix + "long"
	q := quoteIdent(schema)
	enum := "ENUM('" + strings.Repeat("v", 300) + "', 'w')"
	_, err := db.Exec(strings.NewReplacer("LONG", longText, "SCH", q, "ENUMTYPE", enum).Replace(`
CREATE DATABASE SCH COMMENT 'LONG';
CREATE TABLE SCH.t (
  a varchar(500) DEFAULT 'LONG' COMMENT 'LONG',
  b varchar(1000) AS (CONCAT(a, 'LONG')) VIRTUAL,
  c int CHECK (c > CHAR_LENGTH('LONG')),
  e ENUMTYPE,
  short int DEFAULT 1
) COMMENT 'LONG';
CREATE VIEW SCH.v AS SELECT 'LONG' AS x;
CREATE FUNCTION SCH.f(p int) RETURNS ENUMTYPE COMMENT 'LONG' RETURN CONCAT('LONG', p);
`))
	require.NoError(t, err)
	return connector.Source{Kind: "mysql", Connection: testConnection, DSN: serverDSN(), Databases: []string{schema}}
}

// TestLongTextIsCutAndMarked compares a capped extraction with an uncapped
// one: every text value longer than the cap is its longest whole-character
// prefix within the cap and listed in truncated_fields; nothing else
// changes.
func TestLongTextIsCutAndMarked(t *testing.T) {
	t.Parallel()
	src := newLongTextSchema(t)
	const limit = 64
	full, _ := extract(t, src, nil, model.WriterOptions{})
	capped, _ := extract(t, src, nil, model.WriterOptions{MaxTextBytes: limit})

	fullRows, cappedRows := full.Rows(), capped.Rows()
	require.Equal(t, len(fullRows), len(cappedRows))
	cut := map[string]bool{}
	for i, f := range fullRows {
		c := cappedRows[i]
		require.Equal(t, f.Kind, c.Kind)
		require.Equal(t, f.Fields["qualified_name"], c.Fields["qualified_name"])
		var wantMarked []string
		for _, field := range model.TextFields(f.Kind) {
			switch v := f.Fields[field].(type) {
			case string:
				require.Equal(t, model.TruncateText(v, limit), c.Fields[field], "%s %s.%s", f.Kind, f.Fields["qualified_name"], field)
				if len(v) > limit {
					wantMarked = append(wantMarked, field)
				}
			case []string:
				require.Equal(t, v, c.Fields[field], "index columns are names on MariaDB")
			default:
				require.Equal(t, v, c.Fields[field])
			}
		}
		marked, _ := c.Fields[model.FieldTruncated].([]string)
		if len(wantMarked) == 0 && len(model.TextFields(f.Kind)) > 0 {
			wantMarked = []string{}
		}
		require.Equal(t, wantMarked, marked, "%s %s", f.Kind, f.Fields["qualified_name"])
		for _, m := range marked {
			cut[string(f.Kind)+"."+m] = true
		}
	}
	got := make([]string, 0, len(cut))
	for k := range cut {
		got = append(got, k)
	}
	slices.Sort(got)
	require.Equal(t, []string{
		"column.comment", "column.data_type", "column.default_value", "column.generation_expression",
		"constraint.check_clause",
		"routine.comment", "routine.definition", "routine.return_type",
		"schema.comment", "table.comment", "table.view_definition",
	}, got)
}

// TestHugeViewDefinitionStaysOnTheServer: three views of 12 MB each (the
// server's default max_allowed_packet is 16 MB) cost the extraction a
// small fraction of that — the cap is applied in SQL. Not parallel: it
// reads the process's allocation counter.
func TestHugeViewDefinitionStaysOnTheServer(t *testing.T) {
	db := admin(t)
	prefix := "sa_my_" + randomHex(t, 4) + "_"
	t.Cleanup(func() { dropPrefixed(t, db, prefix) })
	schema := quoteIdent(prefix + "huge")
	_, err := db.Exec("CREATE DATABASE " + schema)
	require.NoError(t, err)
	for _, v := range []string{"a", "b", "c"} {
		_, err := db.Exec("CREATE VIEW " + schema + ".v_" + v + " AS SELECT '" + strings.Repeat(v, 12_000_000) + "' AS x")
		require.NoError(t, err)
	}
	src := connector.Source{Kind: "mysql", Connection: testConnection, DSN: serverDSN(), Databases: []string{prefix + "huge"}}

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	sink, _ := extract(t, src, nil, model.WriterOptions{})
	runtime.ReadMemStats(&after)

	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d bytes for 36 MB of view definitions", allocated)
	require.Less(t, allocated, uint64(24<<20), "a 12 MB view definition crossed the wire")
	views := 0
	for _, r := range sink.Rows() {
		if r.Kind == model.KindTable {
			views++
			require.Len(t, r.Fields["view_definition"], model.DefaultMaxTextBytes)
			require.Equal(t, []string{"view_definition"}, r.Fields[model.FieldTruncated])
		}
	}
	require.Equal(t, 3, views)
}
