package mysql

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/secure-agent/secure-agent/libs/changeset"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

var _ connector.Lister = (*Conn)(nil)

// listingSQL lists the schemas the user sees, and of each whether the user
// holds a privilege on the whole schema (then information_schema shows all
// its tables), with whether the user holds a global SELECT (every schema
// and table visible) or SHOW DATABASES (every schema listed). Only the
// user's own grants count: a user who may read the grant tables sees every
// user's rows in these views. Schema-level grant names are LIKE patterns
// in MySQL ('_' and '%' are wildcards unless escaped), so MySQL matches
// them. Privileges held through a role are not in these views: then a
// dropped schema cannot be told from a hidden one, and its deletions are
// withheld (the safe side).
const listingSQL = `
SELECT s.SCHEMA_NAME,
       EXISTS (SELECT 1 FROM information_schema.SCHEMA_PRIVILEGES p
               WHERE p.GRANTEE = g.grantee AND s.SCHEMA_NAME LIKE p.TABLE_SCHEMA),
       EXISTS (SELECT 1 FROM information_schema.USER_PRIVILEGES u
               WHERE u.GRANTEE = g.grantee AND u.PRIVILEGE_TYPE = 'SELECT'),
       EXISTS (SELECT 1 FROM information_schema.USER_PRIVILEGES u
               WHERE u.GRANTEE = g.grantee AND u.PRIVILEGE_TYPE IN ('SELECT', 'SHOW DATABASES'))
FROM information_schema.SCHEMATA s
CROSS JOIN (SELECT  CONCAT('''',
       LEFT(CURRENT_USER(), LENGTH(CURRENT_USER()) - LENGTH(SUBSTRING_INDEX(CURRENT_USER(), '@', -1)) - 1),
       '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''') AS grantee) g`

// ListingQueries is the number of statements Listing sends.
const ListingQueries = 1

// Listing says which schemas the agent's user sees: MySQL shows a user only
// the schemas and tables it holds some privilege on.
func (c *Conn) Listing(ctx context.Context) (changeset.Listing, error) {
	conn, err := c.connect(ctx)
	if err != nil {
		return changeset.Listing{}, err
	}
	defer conn.Close()
	q := c.counter(conn)
	db := changeset.DatabaseState{Readable: true, Schemas: map[string]changeset.SchemaState{}}
	err = q.each(ctx, stListing, listingSQL, nil, func(rows *sql.Rows) error {
		var name string
		var onSchema, globalSelect, listsAll bool
		if err := rows.Scan(&name, &onSchema, &globalSelect, &listsAll); err != nil {
			return err
		}
		db.Schemas[name] = changeset.SchemaState{Readable: true, TablesComplete: onSchema || globalSelect}
		db.ListsAllSchemas = listsAll
		return nil
	})
	if err != nil {
		return changeset.Listing{}, fmt.Errorf("list the schemas %s shows the agent's user: %w", c.addr, err)
	}
	return changeset.Listing{Databases: map[string]changeset.DatabaseState{DatabaseName: db}, ListsAllDatabases: true,
		SelectedSchemas: c.scope.schemas}, nil
}
