package benchcat

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MariaDB is a generated MariaDB catalog of the same shape as Postgres: in
// MariaDB a schema is a database, so its Tables tables of BaseColumns
// columns are spread over Schemas() databases of 1,000, each table with a
// primary key, a foreign key to the previous table, an index and a comment,
// and a view per 10 tables joining two. A table in Marker's database
// records the shape once the catalog is complete.
type MariaDB struct {
	Prefix string // database names: <Prefix>_s000, <Prefix>_s001, ...
	Tables int
	Views  int
}

// NewMariaDB names the catalog sa_bench_<tables>.
func NewMariaDB(tables int) MariaDB {
	return MariaDB{Prefix: fmt.Sprintf("sa_bench_%d", tables), Tables: tables, Views: tables / 10}
}

// markerDB holds one row per complete generated catalog; it is not part
// of any catalog read.
const markerDB = "sa_bench_markers"

// Schemas are the catalog's databases, in order.
func (c MariaDB) Schemas() []string {
	n := (c.Tables + tablesPerSchema - 1) / tablesPerSchema
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s_s%03d", c.Prefix, i)
	}
	return out
}

func (c MariaDB) marker() string {
	return fmt.Sprintf("secure-agent bench catalog: tables=%d columns=%d views=%d layout=%d", c.Tables, BaseColumns, c.Views, layoutVersion)
}

// Assets is the number of assets an unfiltered extraction of Schemas()
// reads: the model database, schemas, tables and views, table statistics
// (tables only), columns (views have 5), constraints (PK, FK and the
// json_valid CHECK MariaDB adds to a JSON column), indexes (PRIMARY, the
// FK's and the named one; MariaDB indexes a foreign key unless an index
// starts with its column). 186,011 for 10,000 tables, as measured.
func (c MariaDB) Assets() int {
	return 1 + len(c.Schemas()) + c.Tables + c.Views + c.Tables + c.Tables*BaseColumns + 5*c.Views + 3*c.Tables + 3*c.Tables
}

// Ensure builds the catalog unless its marker is recorded; a catalog left
// half-built is dropped and rebuilt. dsn is an administrator's DSN with
// multiStatements=true.
func (c MariaDB) Ensure(ctx context.Context, dsn string, progress io.Writer) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("connect to MariaDB (start it with `make services`): %w", err)
	}
	var marker string
	err = db.QueryRowContext(ctx, "SELECT marker FROM "+markerDB+".catalogs WHERE name = ?", c.Prefix).Scan(&marker)
	switch {
	case err == nil && marker == c.marker():
		fmt.Fprintf(progress, "bench: reusing MariaDB databases %s_* (%s)\n", c.Prefix, marker)
		return nil
	case err == nil, errors.Is(err, sql.ErrNoRows):
	case mysqlErrorIs(err, errNoSuchTable, errNoSuchDatabase): // nothing built yet
	default:
		return fmt.Errorf("look for the marker of %s: %w", c.Prefix, err)
	}
	start := time.Now()
	var ddl strings.Builder
	ddl.WriteString("CREATE DATABASE IF NOT EXISTS " + markerDB + ";\n")
	ddl.WriteString("CREATE TABLE IF NOT EXISTS " + markerDB + ".catalogs (name varchar(64) PRIMARY KEY, marker text NOT NULL);\n")
	fmt.Fprintf(&ddl, "DELETE FROM %s.catalogs WHERE name = '%s';\n", markerDB, c.Prefix)
	for _, s := range c.Schemas() {
		fmt.Fprintf(&ddl, "DROP DATABASE IF EXISTS %s; CREATE DATABASE %s;\n", s, s)
	}
	if _, err := db.ExecContext(ctx, ddl.String()); err != nil {
		return fmt.Errorf("create the databases of %s: %w", c.Prefix, err)
	}
	schemas := c.Schemas()
	schemaOf := func(i int) string { return schemas[(i-1)/tablesPerSchema] }
	for lo := 1; lo <= c.Tables; lo += chunk {
		ddl.Reset()
		ddl.WriteString("SET SESSION foreign_key_checks = 0;\n")
		for i := lo; i <= min(lo+chunk-1, c.Tables); i++ {
			prev := max(i-1, 1)
			fmt.Fprintf(&ddl, "CREATE TABLE %s.t%06d (id bigint PRIMARY KEY, prev_id bigint, name text NOT NULL, code varchar(32),"+
				" amount decimal(12,2) DEFAULT 0, qty int, active boolean DEFAULT true, created_at timestamp NULL DEFAULT CURRENT_TIMESTAMP,"+
				" payload json, note text, KEY t%06d_code_idx (code, created_at), FOREIGN KEY (prev_id) REFERENCES %s.t%06d (id)) COMMENT 'bench table %d';\n",
				schemaOf(i), i, i, schemaOf(prev), prev, i)
			if i%10 == 0 {
				fmt.Fprintf(&ddl, "CREATE VIEW %s.v%06d AS SELECT a.id, a.name, a.created_at, b.amount, b.qty FROM %s.t%06d a JOIN %s.t%06d b ON b.id = a.prev_id;\n",
					schemaOf(i), i/10, schemaOf(i), i, schemaOf(i-1), i-1)
			}
		}
		if _, err := db.ExecContext(ctx, ddl.String()); err != nil {
			return fmt.Errorf("tables %d-%d of %s (rebuilt on the next run): %w", lo, lo+chunk-1, c.Prefix, err)
		}
		if hi := min(lo+chunk-1, c.Tables); hi%max(chunk, c.Tables/10) < chunk || hi == c.Tables {
			fmt.Fprintf(progress, "bench: MariaDB %s: %d/%d tables (%s)\n", c.Prefix, hi, c.Tables, time.Since(start).Round(time.Second))
		}
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO "+markerDB+".catalogs (name, marker) VALUES (?, ?)", c.Prefix, c.marker()); err != nil {
		return fmt.Errorf("mark %s as complete: %w", c.Prefix, err)
	}
	fmt.Fprintf(progress, "bench: MariaDB %s built in %s\n", c.Prefix, time.Since(start).Round(time.Second))
	return nil
}

// MariaDB error numbers Ensure expects before the first build.
const (
	errNoSuchDatabase = 1049
	errNoSuchTable    = 1146
)

func mysqlErrorIs(err error, numbers ...uint16) bool {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	for _, n := range numbers {
		if me.Number == n {
			return true
		}
	}
	return false
}
