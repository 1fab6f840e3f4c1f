package benchcat

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// schemasLayout changes whenever Schemas' catalog changes shape.
const schemasLayout = 1

// Schemas is a PostgreSQL catalog of Schemas schemas s00, s01, ... of
// Tables tables t000, t001, ... each (a primary key, a foreign key to the
// previous table of its schema, an index and a comment) and one view per
// schema: the e2e kill tests' shape. A job with tables_per_partition:
// Tables has one partition per schema, plus one for public.
type Schemas struct {
	DB      string
	Schemas int
	Tables  int // per schema
}

// NewSchemas describes database db of schemas × tables.
func NewSchemas(db string, schemas, tables int) Schemas {
	return Schemas{DB: db, Schemas: schemas, Tables: tables}
}

func (c Schemas) marker() string {
	return fmt.Sprintf("secure-agent schemas catalog: schemas=%d tables=%d layout=%d", c.Schemas, c.Tables, schemasLayout)
}

// Ensure builds the catalog unless database c.DB holds it already (see
// Postgres.Ensure).
func (c Schemas) Ensure(ctx context.Context, dsn func(db string) string, progress io.Writer) error {
	return ensureMarked(ctx, dsn, c.DB, c.marker(), "catalog", progress, c.build)
}

// build creates one schema per statement batch.
func (c Schemas) build(ctx context.Context, dsn string, progress io.Writer) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	start := time.Now()
	for s := range c.Schemas {
		var ddl strings.Builder
		fmt.Fprintf(&ddl, "CREATE SCHEMA s%02d;\n", s)
		for i := range c.Tables {
			ref := ""
			if i > 0 {
				ref = fmt.Sprintf(", prev_id int REFERENCES s%02d.t%03d(id)", s, i-1)
			}
			fmt.Fprintf(&ddl, "CREATE TABLE s%02d.t%03d (id int PRIMARY KEY, name text NOT NULL, created timestamptz%s);\n", s, i, ref)
			fmt.Fprintf(&ddl, "CREATE INDEX ON s%02d.t%03d (name);\n", s, i)
			fmt.Fprintf(&ddl, "COMMENT ON TABLE s%02d.t%03d IS 'table %d of schema %d';\n", s, i, i, s)
		}
		fmt.Fprintf(&ddl, "CREATE VIEW s%02d.v AS SELECT id, name FROM s%02d.t000;\n", s, s)
		if _, err := conn.Exec(ctx, ddl.String()); err != nil {
			return fmt.Errorf("schema s%02d: %w", s, err)
		}
	}
	fmt.Fprintf(progress, "catalog: %s: %d schemas of %d tables built in %s\n", c.DB, c.Schemas, c.Tables, time.Since(start).Round(time.Millisecond))
	return nil
}
