package sqlite

import (
	"context"

	"github.com/secure-agent/secure-agent/libs/changeset"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

var _ connector.Lister = (*Connector)(nil)

// Listing is the file's one database: opening it proved it readable, and
// SQLite has no privileges, so every schema and table is listed. It sends
// no statement.
func (c *Connector) Listing(context.Context) (changeset.Listing, error) {
	return changeset.Listing{
		Databases:         map[string]changeset.DatabaseState{c.names.Database: {Readable: true, TablesComplete: true}},
		ListsAllDatabases: true,
	}, nil
}
