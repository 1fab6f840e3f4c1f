package mysql

import (
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// createUser creates a user with only USAGE (it may log in and nothing
// else) and drops it at the end. It returns the user's DSN and password.
func (f fixture) createUser(t *testing.T) (string, password) {
	t.Helper()
	user := "sa_np_" + randomHex(t, 4)
	pw := password("pw-" + randomHex(t, 8))
	_, err := f.db.Exec("CREATE USER " + quoteString(user) + "@'%' IDENTIFIED BY " + quoteString(string(pw)))
	require.NoError(t, err)
	t.Cleanup(func() {
		if _, err := f.db.Exec("DROP USER " + quoteString(user) + "@'%'"); err != nil {
			t.Errorf("drop user %s: %v", user, err)
		}
	})
	cfg, err := mysqldrv.ParseDSN(serverDSN())
	require.NoError(t, err)
	cfg.User, cfg.Passwd, cfg.DBName = user, "", ""
	return cfg.FormatDSN(), pw
}

func TestNoCatalogPrivileges(t *testing.T) {
	f := loadFixture(t)
	dsn, pw := f.createUser(t)
	src := f.source()
	src.DSN = dsn

	t.Run("expected schemas", func(t *testing.T) {
		checks := preflight(t, src, pw)
		require.Equal(t, connector.Pass, checks[CheckAuthentication].Status, "%+v", checks[CheckAuthentication])
		priv := checks[CheckCatalogPrivileges]
		require.Equal(t, connector.Fail, priv.Status)
		require.Contains(t, priv.Detail, "sees 0 of the 3 expected schemas")
		require.Contains(t, priv.Remediation, "GRANT SELECT, SHOW VIEW ON `"+f.prefix+"sales`.* TO 'sa_np_")
		require.NotContains(t, priv.Detail+priv.Remediation, string(pw))

		_, stats, err := tryExtract(t, src, pw, model.WriterOptions{})
		require.ErrorContains(t, err, "sees 0 of the 3 expected schemas")
		require.ErrorContains(t, err, "GRANT SELECT, SHOW VIEW ON `"+f.prefix+"inventory`.*")
		require.Equal(t, 1, stats.Queries, "only the probe runs")
	})

	t.Run("all schemas", func(t *testing.T) {
		all := src
		all.Databases = nil
		priv := preflight(t, all, pw)[CheckCatalogPrivileges]
		require.Equal(t, connector.Fail, priv.Status)
		require.Contains(t, priv.Detail, "sees no schemas besides the system ones")
		require.Contains(t, priv.Remediation, "GRANT SELECT, SHOW VIEW ON `<schema>`.*")

		_, _, err := tryExtract(t, all, pw, model.WriterOptions{})
		require.ErrorContains(t, err, "sees no schemas besides the system ones")
	})

	t.Run("some schemas", func(t *testing.T) {
		_, err := f.db.Exec("GRANT SELECT ON " + quoteIdent(f.prefix+"sales") + ".* TO " + quoteString(userOf(t, dsn)) + "@'%'")
		require.NoError(t, err)
		priv := preflight(t, src, pw)[CheckCatalogPrivileges]
		require.Equal(t, connector.Fail, priv.Status)
		require.Contains(t, priv.Detail, "sees 1 of the 3 expected schemas; missing: "+f.prefix+"inventory, "+f.prefix+"Odd/Sch.ema ü")
		require.NotContains(t, priv.Remediation, "ON `"+f.prefix+"sales`")

		_, _, err = tryExtract(t, src, pw, model.WriterOptions{})
		require.ErrorContains(t, err, "cannot see schema(s) "+f.prefix+"inventory, "+f.prefix+"Odd/Sch.ema ü")
	})
}

func userOf(t *testing.T, dsn string) string {
	cfg, err := mysqldrv.ParseDSN(dsn)
	require.NoError(t, err)
	return cfg.User
}
