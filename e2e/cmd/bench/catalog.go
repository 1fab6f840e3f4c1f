package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
)

// layoutVersion changes whenever the generated catalog changes shape, so an
// old database is rebuilt instead of measured.
const layoutVersion = 1

// chunk is how many tables one transaction creates: every CREATE TABLE
// takes several locks held to commit, and the shared lock table holds
// max_locks_per_transaction × max_connections (6,400 by default).
const chunk = 250

// tablesPerSchema spreads the tables over schemas like a real catalog.
const tablesPerSchema = 1000

type catalog struct {
	db            string
	tables, views int
}

func (c catalog) marker() string {
	return fmt.Sprintf("secure-agent bench catalog: tables=%d views=%d layout=%d", c.tables, c.views, layoutVersion)
}

// ensure builds the catalog unless a database with the right marker
// exists; a database left half-built by an interrupted run has no marker
// (it is set last) and is rebuilt.
func (c catalog) ensure(ctx context.Context, cfg config) error {
	admin, err := pgx.Connect(ctx, cfg.dsn("postgres"))
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL at %s:%d as %s (start it with `make services`): %w", cfg.host, cfg.port, cfg.user, err)
	}
	defer admin.Close(context.Background())

	var comment *string
	err = admin.QueryRow(ctx, `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1`, c.db).Scan(&comment)
	switch {
	case err == nil && comment != nil && *comment == c.marker():
		fmt.Fprintf(os.Stderr, "bench: reusing database %s (%s)\n", c.db, c.marker())
		return nil
	case err == nil:
		fmt.Fprintf(os.Stderr, "bench: database %s is incomplete or of another layout; rebuilding it\n", c.db)
		if _, err := admin.Exec(ctx, fmt.Sprintf(`DROP DATABASE %s WITH (FORCE)`, pgx.Identifier{c.db}.Sanitize())); err != nil {
			return fmt.Errorf("drop %s: %w", c.db, err)
		}
	case !errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("look for database %s: %w", c.db, err)
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s`, pgx.Identifier{c.db}.Sanitize())); err != nil {
		return fmt.Errorf("create database %s: %w", c.db, err)
	}
	if err := c.build(ctx, cfg); err != nil {
		return fmt.Errorf("build %s (it will be rebuilt on the next run): %w", c.db, err)
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf(`COMMENT ON DATABASE %s IS '%s'`, pgx.Identifier{c.db}.Sanitize(), c.marker())); err != nil {
		return fmt.Errorf("mark %s as complete: %w", c.db, err)
	}
	return nil
}

// build generates the objects server-side, one DO block per chunk, so the
// round trips do not grow with the catalog.
func (c catalog) build(ctx context.Context, cfg config) error {
	conn, err := pgx.Connect(ctx, cfg.dsn(c.db))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	start := time.Now()
	for lo := 1; lo <= c.tables; lo += chunk {
		hi := min(lo+chunk-1, c.tables)
		if _, err := conn.Exec(ctx, fmt.Sprintf(tablesDO, lo, hi, tablesPerSchema)); err != nil {
			return fmt.Errorf("tables %d-%d: %w", lo, hi, err)
		}
		fmt.Fprintf(os.Stderr, "bench: %s: %d/%d tables (%s)\n", c.db, hi, c.tables, time.Since(start).Round(time.Second))
	}
	for lo := 1; lo <= c.views; lo += chunk {
		hi := min(lo+chunk-1, c.views)
		if _, err := conn.Exec(ctx, fmt.Sprintf(viewsDO, lo, hi, tablesPerSchema)); err != nil {
			return fmt.Errorf("views %d-%d: %w", lo, hi, err)
		}
		fmt.Fprintf(os.Stderr, "bench: %s: %d/%d views (%s)\n", c.db, hi, c.views, time.Since(start).Round(time.Second))
	}
	// Fresh statistics for the system catalogs, so both sides of the
	// comparison get the plans a settled database would.
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		return fmt.Errorf("vacuum analyze: %w", err)
	}
	fmt.Fprintf(os.Stderr, "bench: %s built in %s\n", c.db, time.Since(start).Round(time.Second))
	return nil
}

// tablesDO creates tables %[1]d..%[2]d: sNNN.tNNNNNN with 10 columns, a
// primary key, a foreign key to the previous table (table 1 to itself), an
// index and a comment.
const tablesDO = `
DO $do$
DECLARE
  i int; s text; ps text; t text; pt text;
BEGIN
  FOR i IN %[1]d..%[2]d LOOP
    s  := 's' || lpad(((i - 1) / %[3]d)::text, 3, '0');
    ps := 's' || lpad(((greatest(i - 1, 1) - 1) / %[3]d)::text, 3, '0');
    t  := 't' || lpad(i::text, 6, '0');
    pt := 't' || lpad(greatest(i - 1, 1)::text, 6, '0');
    EXECUTE format('CREATE SCHEMA IF NOT EXISTS %%I', s);
    EXECUTE format('CREATE TABLE %%I.%%I (
        id bigint PRIMARY KEY,
        prev_id bigint REFERENCES %%I.%%I (id),
        name text NOT NULL,
        code varchar(32),
        amount numeric(12,2) DEFAULT 0,
        qty integer,
        active boolean DEFAULT true,
        created_at timestamptz DEFAULT now(),
        payload jsonb,
        note text)', s, t, ps, pt);
    EXECUTE format('CREATE INDEX %%I ON %%I.%%I (code, created_at)', t || '_code_idx', s, t);
    EXECUTE format('COMMENT ON TABLE %%I.%%I IS %%L', s, t, 'bench table ' || i);
  END LOOP;
END
$do$`

// viewsDO creates views %[1]d..%[2]d: view j joins tables 10j and 10j-1, so
// each has two lineage edges.
const viewsDO = `
DO $do$
DECLARE
  j int; s text; s1 text; s2 text; t1 text; t2 text;
BEGIN
  FOR j IN %[1]d..%[2]d LOOP
    s1 := 's' || lpad(((10 * j - 1) / %[3]d)::text, 3, '0');
    s2 := 's' || lpad(((10 * j - 2) / %[3]d)::text, 3, '0');
    t1 := 't' || lpad((10 * j)::text, 6, '0');
    t2 := 't' || lpad((10 * j - 1)::text, 6, '0');
    s  := s1;
    EXECUTE format('CREATE VIEW %%I.%%I AS SELECT a.id, a.name, a.created_at, b.amount, b.qty
        FROM %%I.%%I a JOIN %%I.%%I b ON b.id = a.prev_id',
        s, 'v' || lpad(j::text, 6, '0'), s1, t1, s2, t2);
  END LOOP;
END
$do$`
