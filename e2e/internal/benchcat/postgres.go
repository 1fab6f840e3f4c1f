// Package benchcat builds the generated catalogs `make bench`, `make chaos`
// and the memory regression tests read: once per server, reused while
// their layout is unchanged (a marker set last says a catalog is complete).
package benchcat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// layoutVersion changes whenever the generated catalog changes shape, so an
// old database is rebuilt instead of measured.
const layoutVersion = 2

// chunk is how many tables one transaction creates: every CREATE TABLE
// takes several locks held to commit, and the shared lock table holds
// max_locks_per_transaction × max_connections (6,400 by default).
const chunk = 250

// tablesPerSchema spreads the tables over schemas like a real catalog.
const tablesPerSchema = 1000

// BaseColumns are the columns every generated table has (id, prev_id,
// name, code, amount, qty, active, created_at, payload, note); a catalog
// with more adds c011, c012, ... of alternating types.
const BaseColumns = 10

// Postgres is a generated PostgreSQL catalog: Tables tables of Columns
// columns in schemas of 1,000, each with a primary key, a foreign key to
// the previous table, an index and a comment, and Tables/10 views joining
// two tables (two lineage edges each).
type Postgres struct {
	DB      string
	Tables  int
	Columns int
	Views   int
}

// NewPostgres names the catalog after its shape: sa_bench_<tables> for the
// base column count, sa_bench_<tables>x<columns> otherwise.
func NewPostgres(tables, columns int) Postgres {
	c := Postgres{Tables: tables, Columns: max(columns, BaseColumns), Views: tables / 10}
	c.DB = fmt.Sprintf("sa_bench_%d", tables)
	if c.Columns != BaseColumns {
		c.DB = fmt.Sprintf("sa_bench_%dx%d", tables, c.Columns)
	}
	return c
}

// Assets is the number of assets an unfiltered extraction reads.
func (c Postgres) Assets() int {
	// database, schemas (and public), tables and views, table statistics, columns
	// (views have 5), constraints (PK and FK), indexes (the PK's and one),
	// two lineage edges per view.
	schemas := (c.Tables + tablesPerSchema - 1) / tablesPerSchema
	return 1 + schemas + 1 + c.Tables + c.Views + c.Tables + c.Tables*c.Columns + 5*c.Views + 2*c.Tables + 2*c.Tables + 2*c.Views
}

func (c Postgres) marker() string {
	return fmt.Sprintf("secure-agent bench catalog: tables=%d columns=%d views=%d layout=%d", c.Tables, c.Columns, c.Views, layoutVersion)
}

// Ensure builds the catalog unless a database with the right marker
// exists; a database left half-built by an interrupted run has no marker
// (it is set last) and is rebuilt. dsn names a database on the server;
// progress receives one line per step.
func (c Postgres) Ensure(ctx context.Context, dsn func(db string) string, progress io.Writer) error {
	return ensureMarked(ctx, dsn, c.DB, c.marker(), "bench", progress, c.build)
}

// ensureMarked creates database db and fills it with build unless a
// database of that name carries marker as its comment: the marker is set
// last, so one left half-built (an interrupted run) or of another layout
// is dropped and rebuilt. who prefixes the progress lines.
func ensureMarked(ctx context.Context, dsn func(db string) string, db, marker, who string, progress io.Writer,
	build func(ctx context.Context, dsn string, progress io.Writer) error) error {
	admin, err := pgx.Connect(ctx, dsn("postgres"))
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL (start it with `make services`): %w", err)
	}
	defer admin.Close(context.Background())

	var comment *string
	err = admin.QueryRow(ctx, `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1`, db).Scan(&comment)
	switch {
	case err == nil && comment != nil && *comment == marker:
		fmt.Fprintf(progress, "%s: reusing database %s (%s)\n", who, db, marker)
		return nil
	case err == nil:
		fmt.Fprintf(progress, "%s: database %s is incomplete or of another layout; rebuilding it\n", who, db)
		if _, err := admin.Exec(ctx, fmt.Sprintf(`DROP DATABASE %s WITH (FORCE)`, pgx.Identifier{db}.Sanitize())); err != nil {
			return fmt.Errorf("drop %s: %w", db, err)
		}
	case !errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("look for database %s: %w", db, err)
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s`, pgx.Identifier{db}.Sanitize())); err != nil {
		return fmt.Errorf("create database %s: %w", db, err)
	}
	if err := build(ctx, dsn(db), progress); err != nil {
		return fmt.Errorf("build %s (it will be rebuilt on the next run): %w", db, err)
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf(`COMMENT ON DATABASE %s IS '%s'`, pgx.Identifier{db}.Sanitize(), marker)); err != nil {
		return fmt.Errorf("mark %s as complete: %w", db, err)
	}
	return nil
}

// build generates the objects server-side, one DO block per chunk, so the
// round trips do not grow with the catalog.
func (c Postgres) build(ctx context.Context, dsn string, progress io.Writer) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	start := time.Now()
	every := max(chunk, c.Tables/20) // about 20 progress lines
	for lo := 1; lo <= c.Tables; lo += chunk {
		hi := min(lo+chunk-1, c.Tables)
		if _, err := conn.Exec(ctx, fmt.Sprintf(tablesDO, lo, hi, tablesPerSchema, extraColumns(c.Columns))); err != nil {
			return fmt.Errorf("tables %d-%d: %w", lo, hi, err)
		}
		if hi%every < chunk || hi == c.Tables {
			fmt.Fprintf(progress, "bench: %s: %d/%d tables (%s)\n", c.DB, hi, c.Tables, time.Since(start).Round(time.Second))
		}
	}
	for lo := 1; lo <= c.Views; lo += chunk {
		hi := min(lo+chunk-1, c.Views)
		if _, err := conn.Exec(ctx, fmt.Sprintf(viewsDO, lo, hi, tablesPerSchema)); err != nil {
			return fmt.Errorf("views %d-%d: %w", lo, hi, err)
		}
	}
	fmt.Fprintf(progress, "bench: %s: %d views (%s)\n", c.DB, c.Views, time.Since(start).Round(time.Second))
	// Fresh statistics for the system catalogs, so both sides of the
	// comparison get the plans a settled database would.
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		return fmt.Errorf("vacuum analyze: %w", err)
	}
	fmt.Fprintf(progress, "bench: %s built in %s\n", c.DB, time.Since(start).Round(time.Second))
	return nil
}

// extraColumns are the column definitions after the base ones, for
// format's %%s inside tablesDO (so its percent signs are doubled).
func extraColumns(columns int) string {
	var b strings.Builder
	for i := BaseColumns + 1; i <= columns; i++ {
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, ",\n        c%03d integer", i)
		case 1:
			fmt.Fprintf(&b, ",\n        c%03d text", i)
		default:
			fmt.Fprintf(&b, ",\n        c%03d timestamptz", i)
		}
	}
	return b.String()
}

// tablesDO creates tables %[1]d..%[2]d: sNNN.tNNNNNN with the base
// columns and %[4]s, a primary key, a foreign key to the previous table
// (table 1 to itself), an index and a comment.
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
        note text%[4]s)', s, t, ps, pt);
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
