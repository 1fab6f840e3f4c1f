package sqlite

import (
	"context"
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

// Extract streams the file's catalog into w. All statements run in one
// read transaction, so they see one consistent snapshot of the schema.
func (c *Connector) Extract(ctx context.Context, w *model.Writer) (connector.Stats, error) {
	start := time.Now()
	s := c.session(c.db)
	stats := func() connector.Stats { return connector.Stats{Queries: s.n, Elapsed: time.Since(start)} }

	tx, err := s.begin(ctx)
	if err != nil {
		return stats(), fmt.Errorf("start a read transaction on %s: %w", c.loc.path, err)
	}
	defer s.rollback(ctx, tx) // after commit it sends nothing

	if err := c.extract(ctx, s, w); err != nil {
		return stats(), err
	}
	if err := s.commit(ctx, tx); err != nil {
		return stats(), fmt.Errorf("end the read transaction on %s: %w", c.loc.path, err)
	}
	return stats(), nil
}

func (c *Connector) extract(ctx context.Context, s *session, w *model.Writer) error {
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
	hasStat1, first, err := c.readSchemas(ctx, s, w)
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
		read func(context.Context, *session, *model.Writer) error
	}{
		{"tables", c.readTables},
		{"columns", c.readColumns},
		{"constraints", c.readConstraints},
		{"indexes", c.readIndexes},
		{"table statistics", func(ctx context.Context, s *session, w *model.Writer) error {
			return c.readStats(ctx, s, w, hasStat1)
		}},
	}
	for _, step := range steps {
		if err := step.read(ctx, s, w); err != nil {
			if step.what == "columns" {
				err = c.explainColumns(ctx, s, err)
			}
			return fmt.Errorf("read %s of database %q: %w", step.what, db, c.explain(err))
		}
	}
	return nil
}
