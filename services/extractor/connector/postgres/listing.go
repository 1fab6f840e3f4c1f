package postgres

import (
	"context"

	"github.com/secure-agent/secure-agent/libs/changeset"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

var _ connector.Lister = (*Connector)(nil)

// Listing reads the database list (one statement): pg_database and every
// database's pg_catalog show every object to every user, so a database is
// readable when the user may CONNECT, and all its schemas and tables are
// listed. A database that forbids connections (datallowconn false) is
// not listed, and counts as dropped.
func (c *Connector) Listing(ctx context.Context) (changeset.Listing, error) {
	password, err := c.password(ctx)
	if err != nil {
		return changeset.Listing{}, err
	}
	main, err := c.dial(ctx, password, c.cfg.Database)
	if err != nil {
		return changeset.Listing{}, err
	}
	defer closeConn(ctx, main)
	var st connector.Stats
	dbs, err := c.listDatabases(ctx, main, &st, 0)
	if err != nil {
		return changeset.Listing{}, err
	}
	out := changeset.Listing{Databases: make(map[string]changeset.DatabaseState, len(dbs)), ListsAllDatabases: true,
		SelectedDatabases: c.src.Databases}
	for _, d := range dbs {
		out.Databases[d.name] = changeset.DatabaseState{Readable: d.canConnect, TablesComplete: true}
	}
	return out, nil
}
