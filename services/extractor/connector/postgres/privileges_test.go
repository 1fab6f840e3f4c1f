package postgres

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/internal/conntest"
	"github.com/stretchr/testify/require"
)

// newRole creates a login role without privileges, dropped at the end
// (after databases created later, since cleanups run in reverse order).
func newRole(t *testing.T) string {
	t.Helper()
	role := uniqueName(t, "sapg_role_")
	adminExec(t, adminDSN, "CREATE ROLE "+role+" LOGIN")
	t.Cleanup(func() { adminExec(t, adminDSN, "DROP ROLE IF EXISTS "+role) })
	return role
}

func extractErr(t *testing.T, src connector.Source) error {
	t.Helper()
	sink := &conntest.Sink{}
	t.Cleanup(sink.Release)
	w, err := model.NewWriter(sink, model.WriterOptions{JobID: "j"})
	require.NoError(t, err)
	_, err = open(t, src).Extract(context.Background(), w)
	return err
}

func TestNoConnectPrivilege(t *testing.T) {
	t.Parallel()
	role := newRole(t)
	db := newDatabase(t, fixtureSQL(t))
	adminExec(t, adminDSN, "REVOKE CONNECT ON DATABASE "+db+" FROM PUBLIC")
	want := "CONNECT on database " + db

	src := source(db)
	src.DSN = "postgres://" + role + "@127.0.0.1:5432/postgres"

	t.Run("preflight", func(t *testing.T) {
		checks := open(t, src).Preflight(context.Background())
		auth, _ := checkByName(checks, checkAuthentication)
		require.Equal(t, connector.Pass, auth.Status, "%+v", auth)
		priv, ok := checkByName(checks, checkCatalogPrivileges)
		require.True(t, ok)
		require.Equal(t, connector.Fail, priv.Status)
		require.Contains(t, priv.Detail, want)
		require.Contains(t, priv.Remediation, "GRANT CONNECT ON DATABASE \""+db+"\" TO \""+role+"\"")
	})
	t.Run("extract", func(t *testing.T) {
		err := extractErr(t, src)
		require.ErrorContains(t, err, want)
		require.ErrorContains(t, err, "GRANT CONNECT ON DATABASE")
	})
	t.Run("dsn names the database", func(t *testing.T) {
		direct := src
		direct.DSN = "postgres://" + role + "@127.0.0.1:5432/" + db
		checks := open(t, direct).Preflight(context.Background())
		auth, _ := checkByName(checks, checkAuthentication)
		require.Equal(t, connector.Fail, auth.Status)
		require.Contains(t, auth.Detail, want)
		require.Contains(t, auth.Remediation, "GRANT CONNECT ON DATABASE")
		require.ErrorContains(t, extractErr(t, direct), want)
	})
	t.Run("all databases: skipped with a warning", func(t *testing.T) {
		// Every database of the server, narrowed by schema filters to the
		// two of this test so that other tests' databases do not interfere.
		other := newDatabase(t, "CREATE TABLE public.t (id int)")
		all := src
		all.Databases = []string{connector.AllDatabases}
		all.Filters.IncludeSchemas = []string{regexp.QuoteMeta(db) + `\..*`, regexp.QuoteMeta(other) + `\..*`}
		checks := open(t, all).Preflight(context.Background())
		priv, _ := checkByName(checks, checkCatalogPrivileges)
		require.Equal(t, connector.Warn, priv.Status, "%+v", priv)
		require.Contains(t, priv.Detail, want)
		require.Contains(t, priv.Detail, "can read the catalog of "+other)

		sink, st := extract(t, all, model.WriterOptions{})
		require.Equal(t, QueriesFixed+QueriesPerDatabase, st.Queries)
		require.Equal(t, []string{"public.t"}, tableNames(sink))
	})
}

// A role that may connect but not read a catalog table gets a preflight
// failure naming the privilege, and Extract fails naming what it could not
// read.
func TestMissingCatalogPrivilege(t *testing.T) {
	t.Parallel()
	role := newRole(t)
	db := newDatabase(t, fixtureSQL(t), "REVOKE SELECT ON pg_catalog.pg_proc FROM PUBLIC")
	src := source(db)
	src.DSN = "postgres://" + role + "@127.0.0.1:5432/postgres"

	checks := open(t, src).Preflight(context.Background())
	priv, _ := checkByName(checks, checkCatalogPrivileges)
	require.Equal(t, connector.Fail, priv.Status, "%+v", priv)
	require.Contains(t, priv.Detail, "SELECT ON pg_catalog.pg_proc")
	require.Contains(t, priv.Remediation, `GRANT SELECT ON pg_catalog.pg_proc TO "`+role+`";`)

	err := extractErr(t, src)
	require.ErrorContains(t, err, "read routines of database "+db)
	require.ErrorContains(t, err, "GRANT SELECT")
}

func TestPreflightPasses(t *testing.T) {
	t.Parallel()
	db := newDatabase(t, fixtureSQL(t))
	checks := open(t, source(db)).Preflight(context.Background())
	require.Len(t, checks, 3)
	for _, name := range []string{checkAuthentication, checkServerVersion, checkCatalogPrivileges} {
		ch, ok := checkByName(checks, name)
		require.True(t, ok, name)
		require.Equal(t, connector.Pass, ch.Status, "%+v", ch)
	}
	v, _ := checkByName(checks, checkServerVersion)
	require.Regexp(t, `^PostgreSQL \d+`, v.Detail)
}

// A relation locked exclusively by another session (DDL) makes Extract
// fail after the lock timeout with an explanation, instead of waiting.
func TestLockedTable(t *testing.T) {
	t.Parallel()
	db := newDatabase(t, fixtureSQL(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	locker, err := pgx.Connect(ctx, dbDSN(db))
	require.NoError(t, err)
	defer func() { _ = locker.Close(context.Background()) }()
	tx, err := locker.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(context.Background()) }()
	_, err = tx.Exec(ctx, "LOCK TABLE sales.orders IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)

	c := open(t, source(db)).(*Connector)
	c.lockTimeout = "300ms"
	w, err := model.NewWriter(&conntest.Sink{}, model.WriterOptions{JobID: "j"})
	require.NoError(t, err)
	start := time.Now()
	_, err = c.Extract(ctx, w)
	require.ErrorContains(t, err, "another session holds exclusively")
	require.ErrorContains(t, err, "retry the extraction")
	require.Less(t, time.Since(start), 20*time.Second)
}
