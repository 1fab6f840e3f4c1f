package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// testEmptyMatch (issue 10 item 17), on TestPipeline's stack: a job whose
// include filter matches nothing fails in preflight with an error naming
// the pattern and writes no manifest; with allow_empty_match it succeeds
// and its status carries the warning.
func testEmptyMatch(t *testing.T, a agent, pgConn, pgDSN string) {
	a = a.on(t)
	filter := []string{"filters:", `  include_schemas: ['` + pgDB + `\.no_such_schema']`}
	id := a.submit(pgSpec("nomatch", pgConn, pgDSN, filter...))
	st := a.wait(id, 2*time.Minute)
	require.Equal(t, job.Failed, st.State)
	msg := strings.Join(st.Errors, "\n")
	require.Contains(t, msg, `"`+pgDB+`\\.no_such_schema" matches no schema`, "the error names the pattern")
	require.Contains(t, msg, "allow_empty_match: true", "and says how to allow it")
	require.Empty(t, st.Partitions, "nothing was extracted")
	_, err := os.Stat(filepath.Join(a.jobDir(id), model.ManifestFile))
	require.ErrorIs(t, err, os.ErrNotExist)

	id = a.submit(pgSpec("nomatch-allowed", pgConn, pgDSN, append(filter, "allow_empty_match: true")...))
	st = a.wait(id, 2*time.Minute)
	require.Equal(t, job.Succeeded, st.State, "%v", st.Errors)
	require.Zero(t, countKind(a.assets(id), model.KindTable))
	require.NotEmpty(t, st.Warnings)
	require.Contains(t, strings.Join(st.Warnings, "\n"), `"`+pgDB+`\\.no_such_schema" matches no schema`)
}

// testTextCap (issue 10 item 12), on TestPipeline's stack: three 60 MB
// table comments go through a job with max_text_bytes: each arrives cut
// to the cap and marked, and the manifest counts them.
func testTextCap(t *testing.T, a agent) {
	a = a.on(t)
	const db = "sa_e2e_bigtext"
	dsn := pgBigComments(t, db, 3, 60_000_000)
	const limit = 65536
	id := a.submit(strings.Join([]string{
		"version: 1", "connection: default/postgres/bigtext", "source:", "  kind: postgres", "  dsn: " + dsn,
		"  databases: [" + db + "]", "max_text_bytes: " + "65536",
	}, "\n") + "\n")
	st := a.wait(id, 3*time.Minute)
	require.Equal(t, job.Succeeded, st.State, "%v", st.Errors)

	dir := a.jobDir(id)
	require.NoError(t, model.VerifyDir(dir))
	m, err := model.ReadManifest(dir)
	require.NoError(t, err)
	require.Equal(t, map[model.Kind]int64{model.KindTable: 3}, m.Truncated)
	require.Equal(t, limit, m.Source.MaxTextBytes)
	tables := 0
	for _, f := range m.Files {
		if f.Kind != model.KindTable {
			continue
		}
		require.NoError(t, model.ReadFile(filepath.Join(dir, f.Name), func(_ model.Kind, rec arrow.Record) error {
			comments := rec.Column(rec.Schema().FieldIndices("comment")[0]).(*array.String)
			cut := rec.Column(rec.Schema().FieldIndices(model.FieldTruncated)[0]).(*array.List)
			for i := 0; i < int(rec.NumRows()); i++ {
				tables++
				require.Len(t, comments.Value(i), limit)
				start, end := cut.ValueOffsets(i)
				require.Equal(t, int64(1), end-start)
				require.Equal(t, "comment", cut.ListValues().(*array.String).Value(int(start)))
			}
			return nil
		}))
	}
	require.Equal(t, 3, tables)
}

// pgBigComments creates database db with n tables, each commented with
// size bytes, and returns the agent's DSN for it.
func pgBigComments(t *testing.T, db string, n, size int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, pgAdminDSN)
	require.NoError(t, err)
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
	require.NoError(t, err)
	_, err = admin.Exec(ctx, "CREATE DATABASE "+db)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, pgAdminDSN); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
			_ = c.Close(ctx)
		}
	})
	dsn := "postgres://postgres@127.0.0.1:5432/" + db + "?sslmode=disable"
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	for i := range n {
		name := "t" + string(rune('a'+i))
		_, err := conn.Exec(ctx, "CREATE TABLE "+name+" (id int)")
		require.NoError(t, err)
		_, err = conn.Exec(ctx, "SELECT set_config('sa.n', $1, false)", strconv.Itoa(size))
		require.NoError(t, err)
		_, err = conn.Exec(ctx, `DO $$ BEGIN EXECUTE format('COMMENT ON TABLE `+name+` IS %L', repeat('x', current_setting('sa.n')::int)); END $$`)
		require.NoError(t, err)
	}
	return dsn
}
