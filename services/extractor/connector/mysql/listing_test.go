package mysql

import (
	"context"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/changeset"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

func listing(t *testing.T, src connector.Source, creds connector.Credentials) changeset.Listing {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Open(ctx, src, creds)
	require.NoError(t, err)
	defer c.Close()
	l, err := c.(connector.Lister).Listing(ctx)
	require.NoError(t, err)
	require.True(t, l.ListsAllDatabases)
	require.Len(t, l.Databases, 1)
	db := l.Databases[DatabaseName]
	require.True(t, db.Readable)
	return l
}

// The listing says what MySQL shows the user, and whether that is all:
// the grants the server itself reports decide, for this user only.
func TestListingFollowsTheUsersGrants(t *testing.T) {
	f := loadFixture(t)
	dsn, pw := f.createUser(t)
	cfg, err := mysqldrv.ParseDSN(dsn)
	require.NoError(t, err)
	account := quoteAccount(cfg.User + "@%")
	sales, inventory := f.prefix+"sales", f.prefix+"inventory"
	_, err = f.db.Exec("GRANT SELECT ON " + quoteIdent(sales) + ".* TO " + account)
	require.NoError(t, err)
	_, err = f.db.Exec("GRANT SELECT ON " + quoteIdent(inventory) + ".products TO " + account)
	require.NoError(t, err)
	src := f.source()
	src.DSN, src.Databases = dsn, nil

	l := listing(t, src, pw)
	require.Nil(t, l.SelectedSchemas, "every schema")
	db := l.Databases[DatabaseName]
	require.False(t, db.ListsAllSchemas, "no SHOW DATABASES: a missing schema may be hidden")
	require.Equal(t, changeset.SchemaState{Readable: true, TablesComplete: true}, db.Schemas[sales])
	require.Equal(t, changeset.SchemaState{Readable: true}, db.Schemas[inventory], "a table grant shows only that table")
	_, listed := db.Schemas[f.prefix+"Odd/Sch.ema ü"]
	require.False(t, listed, "a schema without any grant is hidden")

	_, err = f.db.Exec("GRANT SHOW DATABASES ON *.* TO " + account)
	require.NoError(t, err)
	db = listing(t, src, pw).Databases[DatabaseName]
	require.True(t, db.ListsAllSchemas)
	_, listed = db.Schemas[f.prefix+"Odd/Sch.ema ü"]
	require.True(t, listed)

	named := src
	named.Databases = []string{sales}
	require.Equal(t, []string{sales}, listing(t, named, pw).SelectedSchemas)

	// The test server's administrator holds global privileges.
	root := f.source()
	root.Databases = nil
	db = listing(t, root, password("")).Databases[DatabaseName]
	require.True(t, db.ListsAllSchemas)
	require.True(t, db.Schemas[inventory].TablesComplete)
}
