package postgres

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/changeset"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// The listing shows every database, and one the user may not connect to
// as listed but not readable: its assets' deletions are withheld.
func TestListingShowsDatabasesWithoutConnect(t *testing.T) {
	t.Parallel()
	role := newRole(t)
	open1 := newDatabase(t, "CREATE TABLE public.t (id int)")
	closed := newDatabase(t, "CREATE TABLE public.t (id int)")
	adminExec(t, adminDSN, "REVOKE CONNECT ON DATABASE "+closed+" FROM PUBLIC")
	src := source(connector.AllDatabases)
	src.DSN = "postgres://" + role + "@127.0.0.1:5432/postgres"
	l, err := open(t, src).(connector.Lister).Listing(context.Background())
	require.NoError(t, err)
	require.True(t, l.ListsAllDatabases)
	require.Equal(t, changeset.DatabaseState{Readable: true, TablesComplete: true}, l.Databases[open1])
	require.Equal(t, changeset.DatabaseState{Readable: false, TablesComplete: true}, l.Databases[closed])
	_, listed := l.Databases["template0"]
	require.False(t, listed, "templates are not sources")
	require.Nil(t, l.SelectedDatabases, "every database")

	src.DSN = "postgres://" + role + "@127.0.0.1:5432/" + open1
	src.Databases = nil
	l, err = open(t, src).(connector.Lister).Listing(context.Background())
	require.NoError(t, err)
	require.Equal(t, []string{open1}, l.SelectedDatabases, "the DSN's database")
}
