package mysql

import (
	"regexp"
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// dsnWithDatabase is the test server's DSN naming db as its database.
func dsnWithDatabase(t *testing.T, db string) string {
	t.Helper()
	cfg, err := mysqldrv.ParseDSN(serverDSN())
	require.NoError(t, err)
	cfg.DBName = db
	return cfg.FormatDSN()
}

// A DSN that names a database (user@tcp(h:3306)/sales) and a source
// without databases read that schema only, and Preflight says so; ["*"]
// reads every schema, as PostgreSQL does (issue 10, item 16).
func TestDSNDatabaseScopesTheSource(t *testing.T) {
	f := loadFixture(t)
	sales := f.prefix + "sales"

	src := connector.Source{Kind: "mysql", Connection: testConnection, DSN: dsnWithDatabase(t, sales)}
	sink, _ := extract(t, src, nil, model.WriterOptions{})
	require.Equal(t, []string{"{{P}}sales"}, f.names(sink, model.KindSchema, "schema_name"))

	checks := preflight(t, src, nil)
	scope, ok := checks[CheckDatabases]
	require.True(t, ok, "preflight says the DSN chose the schema: %+v", checks)
	require.Equal(t, connector.Pass, scope.Status)
	require.Contains(t, scope.Detail, "only schema "+sales+" is extracted")
	require.Contains(t, checks[CheckCatalogPrivileges].Detail, "sees all 1 expected schemas")

	// Every schema, narrowed to the fixture's by a filter.
	all := src
	all.Databases = []string{connector.AllDatabases}
	all.Filters.IncludeSchemas = []string{`default\.` + regexp.QuoteMeta(f.prefix) + `.*`}
	sink, _ = extract(t, all, nil, model.WriterOptions{})
	require.Len(t, f.names(sink, model.KindSchema, "schema_name"), len(f.schemas()))
	_, ok = preflight(t, all, nil)[CheckDatabases]
	require.False(t, ok, "no scope note when the source chose")

	// No database in the DSN: every schema, as before.
	none := all
	none.Databases = nil
	none.DSN = serverDSN()
	sink, _ = extract(t, none, nil, model.WriterOptions{})
	require.Len(t, f.names(sink, model.KindSchema, "schema_name"), len(f.schemas()))
}
