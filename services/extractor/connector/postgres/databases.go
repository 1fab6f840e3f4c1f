package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// database is one row of databasesSQL.
type database struct {
	name           string
	owner, comment *string
	canConnect     bool
}

// listDatabases reads the (short) database list; it is held in memory
// because every database needs its own connection. Comments are cut at
// commentChars characters (textChars; 0 when they are not needed).
func (c *Connector) listDatabases(ctx context.Context, conn *pgx.Conn, st *connector.Stats, commentChars int) ([]database, error) {
	var only []string
	if len(c.src.Databases) > 0 {
		only = c.src.Databases
	}
	st.Queries++
	rows, err := conn.Query(ctx, databasesSQL, only, commentChars)
	if err != nil {
		return nil, c.readError("the database list", c.cfg.Database, err)
	}
	defer rows.Close()
	var (
		out            []database
		name           string
		owner, comment pgtype.Text
		canConnect     pgtype.Bool
	)
	for rows.Next() {
		if err := rows.Scan(&name, &owner, &comment, &canConnect); err != nil {
			return nil, c.readError("the database list", c.cfg.Database, err)
		}
		if !canConnect.Valid {
			continue // dropped while being listed
		}
		out = append(out, database{name: name, owner: textPtr(owner), comment: textPtr(comment), canConnect: canConnect.Bool})
	}
	if err := rows.Err(); err != nil {
		return nil, c.readError("the database list", c.cfg.Database, err)
	}
	return out, nil
}

// selectDatabases applies the source's database list and the schema
// filters' database part, and refuses databases the user may not enter:
// named ones always; unnamed ones are skipped (Preflight warns about them)
// so that a server's private databases (rdsadmin, azure_sys, ...) do not
// stop the extraction of the others.
func (c *Connector) selectDatabases(dbs []database) ([]database, error) {
	if len(c.src.Databases) > 0 {
		var missing []string
		for _, want := range c.src.Databases {
			if !slices.ContainsFunc(dbs, func(d database) bool { return d.name == want }) {
				missing = append(missing, want)
			}
		}
		if len(missing) > 0 {
			return nil, &actionError{
				problem: fmt.Sprintf("database(s) %s not found at %s (or they are templates or do not allow connections)", quoteList(missing), c.server()),
				action:  "correct the source's databases",
			}
		}
	}
	var out []database
	var denied []string
	for _, d := range dbs {
		if !databaseMayMatch(c.filters, d.name) {
			continue
		}
		if !d.canConnect {
			denied = append(denied, d.name)
			continue
		}
		out = append(out, d)
	}
	if len(denied) > 0 && (len(c.src.Databases) > 0 || len(out) == 0) {
		return nil, c.connectPrivilegeError(denied)
	}
	return out, nil
}

func (c *Connector) connectPrivilegeError(dbs []string) error {
	grants := make([]string, len(dbs))
	for i, d := range dbs {
		grants[i] = "GRANT CONNECT ON DATABASE " + pgx.Identifier{d}.Sanitize() + " TO " + pgx.Identifier{c.cfg.User}.Sanitize() + ";"
	}
	on := make([]string, len(dbs))
	for i, d := range dbs {
		on[i] = "CONNECT on database " + d
	}
	return &actionError{
		problem: fmt.Sprintf("user %q lacks %s at %s", c.cfg.User, strings.Join(on, ", "), c.server()),
		action:  "run " + strings.Join(grants, " ") + " or leave the database out of the source's databases",
	}
}

// droppedMeanwhile reports a database that was listed but no longer
// exists; when the source names no databases that is not an error: there
// is nothing left to extract.
func (c *Connector) droppedMeanwhile(err error) bool {
	var pgErr *pgconn.PgError
	return len(c.src.Databases) == 0 && errors.As(err, &pgErr) && pgErr.Code == codeInvalidCatalogName
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
