package benchcat

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// sqliteLayout changes whenever SQLite's generated file changes shape.
const sqliteLayout = 3

// CachedSQLite returns the path of a generated SQLite catalog of tables
// tables (see SQLite), building it once per machine in cacheDir (seconds;
// the file is 4 MiB per 10,000 tables). A file is complete once renamed
// into place.
func CachedSQLite(ctx context.Context, cacheDir string, tables int, progress io.Writer) (string, error) {
	path := filepath.Join(cacheDir, fmt.Sprintf("sqlite-%d-layout%d.db", tables, sqliteLayout))
	if _, err := os.Stat(path); err == nil {
		fmt.Fprintf(progress, "bench: reusing %s\n", path)
		return path, nil
	}
	if err := os.MkdirAll(cacheDir, 0o750); err != nil {
		return "", err
	}
	tmp := path + ".building"
	_ = os.Remove(tmp)
	start := time.Now()
	if err := SQLite(ctx, tmp, tables); err != nil {
		_ = os.Remove(tmp)
		return "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", err
	}
	fmt.Fprintf(progress, "bench: generated %s in %s\n", path, time.Since(start).Round(time.Second))
	return path, nil
}

// CacheDir is where generated catalog files are kept:
// $XDG_CACHE_HOME/secure-agent/bench (~/.cache/secure-agent/bench), beside
// the tool builds.
func CacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for generated catalogs: %w", err)
	}
	return filepath.Join(dir, "secure-agent", "bench"), nil
}

// SQLite writes a SQLite file of the same shape as Postgres: tables of
// BaseColumns columns with a primary key, a foreign key to the previous
// table and an index, and a view per 10 tables joining two (SQLite has no
// schemas and no comments). The file must not exist.
//
// Creating 50,000 tables with DDL is quadratic in SQLite (every CREATE
// re-reads its schema table with a full scan: over 15 minutes on a loaded
// 2-core machine), so only the first table is created with DDL and every
// other table's, index's and view's row is written straight into
// sqlite_schema (PRAGMA writable_schema), with the SQL text SQLite itself
// would store, in one transaction: seconds. The tables share the first
// table's (empty) root pages: the catalog statements read only the
// schema, never a table's pages, and SQLite parses every row's SQL when
// it opens the file, so a malformed row fails there, not later.
func SQLite(ctx context.Context, path string, tables int) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists; give a new file", path)
	}
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?_pragma=journal_mode(off)&_pragma=synchronous(off)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, sqliteTable(1)); err != nil {
		return fmt.Errorf("the first table of %s: %w", path, err)
	}
	var tableRoot, indexRoot int
	if err := conn.QueryRowContext(ctx, `SELECT (SELECT rootpage FROM sqlite_schema WHERE name = 't000001'),
  (SELECT rootpage FROM sqlite_schema WHERE name = 'sqlite_autoindex_t000001_1')`).Scan(&tableRoot, &indexRoot); err != nil {
		return fmt.Errorf("root pages of the first table of %s: %w", path, err)
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA writable_schema = ON"); err != nil {
		return err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	ins, err := tx.PrepareContext(ctx, "INSERT INTO sqlite_schema (type, name, tbl_name, rootpage, sql) VALUES (?, ?, ?, ?, ?)")
	if err != nil {
		return err
	}
	defer ins.Close()
	add := func(typ, name, table string, root int, text any) error {
		if _, err := ins.ExecContext(ctx, typ, name, table, root, text); err != nil {
			return fmt.Errorf("%s %s of %s: %w", typ, name, path, err)
		}
		return nil
	}
	for i := 1; i <= tables; i++ {
		name := fmt.Sprintf("t%06d", i)
		if i > 1 {
			if err := add("table", name, name, tableRoot, strings.TrimSuffix(sqliteTable(i), ";")); err != nil {
				return err
			}
			if err := add("index", "sqlite_autoindex_"+name+"_1", name, indexRoot, nil); err != nil {
				return err
			}
		}
		if i%10 == 0 {
			view := fmt.Sprintf("v%06d", i/10)
			text := fmt.Sprintf("CREATE VIEW %s AS SELECT a.id, a.name, a.created_at, b.amount, b.qty FROM t%06d a JOIN t%06d b ON b.id = a.prev_id", view, i, i-1)
			if err := add("view", view, view, 0, text); err != nil {
				return err
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	// Bump the schema cookie, as DDL would, and check SQLite parses it all.
	var version int
	if err := conn.QueryRowContext(ctx, "PRAGMA schema_version").Scan(&version); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA schema_version = %d", version+1)); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA writable_schema = OFF"); err != nil {
		return err
	}
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM pragma_table_list WHERE schema = 'main' AND name NOT LIKE 'sqlite_%'").Scan(&n); err != nil {
		return fmt.Errorf("SQLite cannot read the schema written into %s: %w", path, err)
	}
	if want := tables + tables/10; n != want {
		return fmt.Errorf("%s lists %d tables and views, want %d", path, n, want)
	}
	return nil
}

// sqliteTable is the DDL of table i.
func sqliteTable(i int) string {
	return fmt.Sprintf(`CREATE TABLE t%06d (
  id integer PRIMARY KEY, prev_id integer REFERENCES t%06d (id), name text NOT NULL, code varchar(32),
  amount numeric(12,2) DEFAULT 0, qty integer, active boolean DEFAULT 1, created_at timestamp DEFAULT CURRENT_TIMESTAMP,
  payload blob, note text, UNIQUE (code, created_at));`, i, max(i-1, 1))
}
