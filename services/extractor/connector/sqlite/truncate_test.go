package sqlite_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/stretchr/testify/require"
)

// TestLongTextIsCutAndMarked: SQLite's free text (view SQL, declared types
// and default expressions) is cut at the cap, whole characters, and marked.
func TestLongTextIsCutAndMarked(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 200) // 400 bytes, 200 characters
	path := createDB(t, "long.db", strings.NewReplacer("LONG", long).Replace(`
CREATE TABLE t (a "LONG" DEFAULT 'LONG', short int DEFAULT 1);
CREATE VIEW v AS SELECT 'LONG' AS x;`))
	const limit = 64
	res, _ := extract(t, source(path), model.WriterOptions{MaxTextBytes: limit})

	one := func(k model.Kind, field string, value any) map[string]any {
		rows := res.where(k, field, value)
		require.Len(t, rows, 1, "%s %s=%v", k, field, value)
		return rows[0]
	}
	cut := model.TruncateText(long, limit)
	require.Len(t, cut, 64)
	a := one(model.KindColumn, "column_name", "a")
	require.Equal(t, cut, a["data_type"])
	require.Equal(t, model.TruncateText("'"+long+"'", limit), a["default_value"])
	require.Equal(t, []string{"data_type", "default_value"}, a[model.FieldTruncated])
	short := one(model.KindColumn, "column_name", "short")
	require.Equal(t, "INT", short["data_type"])
	require.Equal(t, []string{}, short[model.FieldTruncated])
	v := one(model.KindTable, "table_name", "v")
	require.Equal(t, model.TruncateText("CREATE VIEW v AS SELECT '"+long+"' AS x", limit), v["view_definition"])
	require.Equal(t, []string{"view_definition"}, v[model.FieldTruncated])
}

// TestHugeViewStaysInSQLite: a 40 MB view definition is cut before it is
// copied into Go. Not parallel: it reads the process's allocation counter.
func TestHugeViewStaysInSQLite(t *testing.T) {
	path := createDB(t, "huge.db", "CREATE VIEW v AS SELECT '"+strings.Repeat("x", 40_000_000)+"' AS x;")
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res, _ := extract(t, source(path), model.WriterOptions{})
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d bytes for a 40 MB view definition", allocated)
	require.Less(t, allocated, uint64(20<<20), "the 40 MB definition was copied out of SQLite")
	for _, r := range res.sink.Rows() {
		if r.Kind == model.KindTable {
			require.Len(t, r.Fields["view_definition"], model.DefaultMaxTextBytes)
		}
	}
}
