// Package demo generates the bundled demo database: a retail schema of
// about forty tables and seven views with a few thousand rows of seed data,
// built the same way on every run, with statistics (ANALYZE) so row counts
// show up in the catalog.
package demo

import (
	"context"
	"database/sql"
	_ "embed"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed schema.sql
var schemaSQL string

// Generate creates the demo database at path from scratch. It builds the
// file next to path and renames it into place, so path is either the old
// file or the complete new one, never half written; an existing file (and
// any journal SQLite left next to it) is replaced.
func Generate(path string) error {
	return GenerateContext(context.Background(), path)
}

// GenerateContext is Generate with cancellation.
func GenerateContext(ctx context.Context, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("demo database: resolve %q: %w", path, err)
	}
	if st, err := os.Stat(abs); err == nil && st.IsDir() {
		return fmt.Errorf("demo database: %s is a directory: give the path of the file to create", abs)
	}
	dir := filepath.Dir(abs)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(abs)+".tmp-*")
	if err != nil {
		return fmt.Errorf("demo database: create a file in %s (it must exist and be writable): %w", dir, err)
	}
	tmpPath := tmp.Name()
	// Readable by the agent when it runs as another user (CreateTemp makes
	// the file private).
	err = tmp.Chmod(0o644)
	tmp.Close()
	if err != nil {
		discard(tmpPath)
		return fmt.Errorf("demo database: %w", err)
	}
	// SQLite reads a zero-length file as an empty database, so it can build
	// into the file CreateTemp reserved.
	if err := build(ctx, tmpPath); err != nil {
		discard(tmpPath)
		return fmt.Errorf("demo database %s: %w", abs, err)
	}
	// A journal next to path belongs to the file being replaced; SQLite
	// would apply it to the new one.
	removeJournals(abs)
	if err := os.Rename(tmpPath, abs); err != nil {
		discard(tmpPath)
		return fmt.Errorf("demo database: move it into place at %s: %w", abs, err)
	}
	syncDir(dir)
	return nil
}

func build(ctx context.Context, path string) (err error) {
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath())
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	db.SetMaxOpenConns(1) // the PRAGMA below holds for this one connection
	if _, err := db.ExecContext(ctx, "PRAGMA foreign_keys = ON"); err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.ExecContext(ctx, schemaSQL); err != nil {
		return fmt.Errorf("create the schema: %w", err)
	}
	if err := seed(ctx, tx); err != nil {
		return fmt.Errorf("insert the seed data: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if err := checkForeignKeys(ctx, db); err != nil {
		return err
	}
	// ANALYZE fills sqlite_stat1 (row counts for the catalog); VACUUM packs
	// the file.
	for _, stmt := range []string{"ANALYZE", "VACUUM"} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return nil
}

// checkForeignKeys fails if the seed data breaks a reference; foreign key
// enforcement is on during the load, this also covers deferred cases.
func checkForeignKeys(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, "SELECT \"table\", rowid, parent FROM pragma_foreign_key_check")
	if err != nil {
		return err
	}
	defer rows.Close()
	var bad []string
	for rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		if err := rows.Scan(&table, &rowid, &parent); err != nil {
			return err
		}
		bad = append(bad, fmt.Sprintf("%s row %d -> %s", table, rowid.Int64, parent))
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("seed data breaks foreign keys: %s", strings.Join(bad, "; "))
	}
	return nil
}

// removeJournals deletes the files SQLite may keep next to a database.
func removeJournals(path string) {
	for _, suffix := range []string{"-journal", "-wal", "-shm"} {
		os.Remove(path + suffix) //nolint:errcheck // usually absent
	}
}

// discard deletes a half-built temporary database.
func discard(path string) {
	removeJournals(path)
	os.Remove(path) //nolint:errcheck // best effort; the error being reported matters more
}

// syncDir makes the rename durable; best effort, as not every file system
// can sync a directory.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
