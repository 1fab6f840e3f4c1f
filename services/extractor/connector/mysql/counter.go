package mysql

import (
	"context"
	"database/sql"
)

// counter sends statements on one pinned connection and counts them, so
// Stats.Queries is what the source really received.
type counter struct {
	conn *sql.Conn
	n    int
}

func (c *counter) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	c.n++
	return c.conn.QueryContext(ctx, q, args...)
}

func (c *counter) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	c.n++
	return c.conn.QueryRowContext(ctx, q, args...)
}

// each runs q and calls scan for every row as it arrives.
func (c *counter) each(ctx context.Context, q string, args []any, scan func(*sql.Rows) error) error {
	rows, err := c.query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// str returns nil for NULL and for the empty string, which information_schema
// uses for "none" (comments, generation expressions on MySQL).
func str(ns sql.NullString) *string {
	if !ns.Valid || ns.String == "" {
		return nil
	}
	s := ns.String
	return &s
}
