package sqlite_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/internal/conntest"
)

// SQLite keeps a view whose table was dropped, and a virtual table whose
// module this agent lacks (planted through writable_schema, as an
// application with its own module would leave it). Reading their columns
// fails; the error must name them and the fix, and excluding them must
// work, which needs the filter pushed into the statement.
const brokenSchema = `
CREATE TABLE gone (x);
CREATE TABLE kept (id INTEGER PRIMARY KEY, v TEXT);
CREATE VIEW broken_view AS SELECT x FROM gone;
CREATE VIEW fine_view AS SELECT id FROM kept;
DROP TABLE gone;
PRAGMA writable_schema = ON;
INSERT INTO sqlite_schema (type, name, tbl_name, rootpage, sql)
  VALUES ('table', 'ext', 'ext', 0, 'CREATE VIRTUAL TABLE ext USING appmodule(a, b)');
PRAGMA writable_schema = OFF;
`

func TestBrokenObjects(t *testing.T) {
	path := createDB(t, "broken.db", brokenSchema)

	c := open(t, source(path))
	w, err := model.NewWriter(&conntest.Sink{}, model.WriterOptions{JobID: "job-1"})
	require.NoError(t, err)
	defer w.Close()
	_, err = c.Extract(context.Background(), w)
	require.Error(t, err)
	for _, want := range []string{"read columns", "main.broken_view", "no such table: main.gone", "main.ext", "no such module: appmodule", "exclude_tables"} {
		require.ErrorContains(t, err, want)
	}
	require.NotContains(t, err.Error(), "main.fine_view")

	ck := checkNamed(t, c.Preflight(context.Background()), "table_definitions")
	require.Equal(t, connector.Fail, ck.Status)
	require.Contains(t, ck.Remediation, "main.broken_view")
	require.Contains(t, ck.Remediation, "main.ext")

	src := source(path)
	src.Filters = connector.Filters{ExcludeTables: []string{`main\.(broken_view|ext)`}}
	sink, st := extract(t, src, model.WriterOptions{})
	require.Equal(t, 8, st.Queries)
	require.Len(t, sink.rows[model.KindTable], 2)
	ck = checkNamed(t, open(t, src).Preflight(context.Background()), "table_definitions")
	require.Equal(t, connector.Pass, ck.Status, ck.Detail)
}
