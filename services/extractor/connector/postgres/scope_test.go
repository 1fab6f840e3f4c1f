package postgres

import (
	"context"
	"regexp"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// A DSN that names a database and a source without databases read that
// database only, and Preflight says so; ["*"] reads every database (issue
// 10, item 16: such a job extracted every database the user could see).
func TestDSNDatabaseScopesTheSource(t *testing.T) {
	t.Parallel()
	named := newDatabase(t, "CREATE TABLE public.named_t (id int)")
	other := newDatabase(t, "CREATE TABLE public.other_t (id int)")

	for _, dsn := range []string{dbDSN(named), "host=127.0.0.1 port=5432 user=postgres dbname=" + named} {
		src := source()
		src.DSN = dsn
		sink, st := extract(t, src, model.WriterOptions{})
		require.Equal(t, []string{named}, names(sink, model.KindDatabase, "database_name"), dsn)
		require.Equal(t, []string{"public.named_t"}, tableNames(sink))
		require.Equal(t, QueriesFixed+QueriesPerDatabase, st.Queries)

		plan, err := open(t, src).(connector.Planner).Plan(context.Background())
		require.NoError(t, err)
		require.Len(t, plan, 1)
		require.Equal(t, named, plan[0].Name)

		scope, ok := checkByName(open(t, src).Preflight(context.Background()), checkDatabases)
		require.True(t, ok, "preflight says the DSN chose the database")
		require.Equal(t, connector.Pass, scope.Status)
		require.Contains(t, scope.Detail, "only database "+named+" is extracted")
		require.Contains(t, scope.Detail, `databases: ["*"]`)
	}

	// Every database: narrowed to this test's two by a schema filter, so
	// that other tests' databases do not interfere.
	all := source(connector.AllDatabases)
	all.DSN = dbDSN(named)
	all.Filters.IncludeSchemas = []string{regexp.QuoteMeta(named) + `\..*`, regexp.QuoteMeta(other) + `\..*`}
	sink, _ := extract(t, all, model.WriterOptions{})
	dbs := names(sink, model.KindDatabase, "database_name")
	sort.Strings(dbs)
	want := []string{named, other}
	sort.Strings(want)
	require.Equal(t, want, dbs)
	_, ok := checkByName(open(t, all).Preflight(context.Background()), checkDatabases)
	require.False(t, ok, "no scope note when the source chose")

	// An explicit list wins over the DSN's database.
	list := source(other)
	list.DSN = dbDSN(named)
	sink, _ = extract(t, list, model.WriterOptions{})
	require.Equal(t, []string{"public.other_t"}, tableNames(sink))
}

func TestAllDatabasesIsAlone(t *testing.T) {
	t.Parallel()
	src := source(connector.AllDatabases, "x")
	_, err := Open(context.Background(), src, nil)
	require.ErrorContains(t, err, `use ["*"] alone`)
}
