package benchcat

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// sqliteLayout changes whenever SQLite's generated file changes shape.
const sqliteLayout = 2

// CachedSQLite returns the path of a generated SQLite catalog of tables
// tables (see SQLite), building it once per machine in cacheDir: SQLite
// scans its schema table for every DDL statement, so generating 50,000
// tables takes minutes. A file is complete once renamed into place.
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
// SQLite re-reads its schema table for every DDL statement (a full scan:
// generating is quadratic in the number of objects), so the index is a
// UNIQUE constraint's, created by the CREATE TABLE itself: one statement
// per table, which halves the time (about 2 minutes for 50,000 tables).
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
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	for i := 1; i <= tables; i++ {
		prev := max(i-1, 1)
		stmt := fmt.Sprintf(`CREATE TABLE t%06d (
  id integer PRIMARY KEY, prev_id integer REFERENCES t%06d (id), name text NOT NULL, code varchar(32),
  amount numeric(12,2) DEFAULT 0, qty integer, active boolean DEFAULT 1, created_at timestamp DEFAULT CURRENT_TIMESTAMP,
  payload blob, note text, UNIQUE (code, created_at));`, i, prev)
		if i%10 == 0 {
			stmt += fmt.Sprintf(`
CREATE VIEW v%06d AS SELECT a.id, a.name, a.created_at, b.amount, b.qty FROM t%06d a JOIN t%06d b ON b.id = a.prev_id;`, i/10, i, i-1)
		}
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("table %d of %s: %w", i, path, err)
		}
	}
	return tx.Commit()
}
