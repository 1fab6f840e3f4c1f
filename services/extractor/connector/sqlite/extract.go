package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// ExtractQueries is the number of statements Extract sends, whatever the
// number of tables: BEGIN, schemas, tables, columns, constraints, indexes,
// statistics, COMMIT. (Only a failed columns statement adds the statements
// that find the broken views; see unreadable.go.)
const ExtractQueries = 8

// querier is what the catalog readers need; *sql.Tx and *sql.DB have it.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// counted counts the statements sent through it.
type counted struct {
	q querier
	n int
}

func (c *counted) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	c.n++
	return c.q.QueryContext(ctx, query, args...)
}

// Extract streams the file's catalog into w. All statements run in one
// read transaction, so they see one consistent snapshot of the schema.
func (c *Connector) Extract(ctx context.Context, w *model.Writer) (connector.Stats, error) {
	start := time.Now()
	q := &counted{}
	stats := func() connector.Stats { return connector.Stats{Queries: q.n, Elapsed: time.Since(start)} }

	q.n++ // BEGIN
	tx, err := c.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return stats(), fmt.Errorf("start a read transaction on %s: %w", c.loc.path, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	q.q = tx

	if err := c.extract(ctx, q, w); err != nil {
		return stats(), err
	}
	q.n++ // COMMIT
	if err := tx.Commit(); err != nil {
		return stats(), fmt.Errorf("end the read transaction on %s: %w", c.loc.path, err)
	}
	return stats(), nil
}

func (c *Connector) extract(ctx context.Context, q *counted, w *model.Writer) error {
	db := c.names.Database
	writeDatabase := func() error {
		err := w.Database(model.Database{QualifiedName: c.names.DatabaseQN(), ParentQualifiedName: c.src.Connection, Name: db})
		if err != nil {
			return fmt.Errorf("write database %q: %w", db, err)
		}
		return nil
	}
	// With a schema group, only the group holding the first selected
	// schema writes the database row (connector.SchemaSet.OwnsDatabase).
	if !c.schemas.Restricted() {
		if err := writeDatabase(); err != nil {
			return err
		}
	}
	hasStat1, first, err := c.readSchemas(ctx, q, w)
	if err != nil {
		return fmt.Errorf("read schemas of database %q: %w", db, c.explain(err))
	}
	if c.schemas.Restricted() && c.schemas.OwnsDatabase(first.Name, first.Seen) {
		if err := writeDatabase(); err != nil {
			return err
		}
	}
	steps := []struct {
		what string
		read func(context.Context, querier, *model.Writer) error
	}{
		{"tables", c.readTables},
		{"columns", c.readColumns},
		{"constraints", c.readConstraints},
		{"indexes", c.readIndexes},
		{"table statistics", func(ctx context.Context, q querier, w *model.Writer) error {
			return c.readStats(ctx, q, w, hasStat1)
		}},
	}
	for _, s := range steps {
		if err := s.read(ctx, q, w); err != nil {
			if s.what == "columns" {
				err = c.explainColumns(ctx, q, err)
			}
			return fmt.Errorf("read %s of database %q: %w", s.what, db, c.explain(err))
		}
	}
	return nil
}

// eachRow runs query with args and calls fn for every row, then reports
// any error that ended the iteration.
func eachRow(ctx context.Context, q querier, query string, fn func(*sql.Rows) error, args ...any) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
