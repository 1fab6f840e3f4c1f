//go:build runtimecheck

// Package sqlitecheck tests the SQLite driver daprd is built with, in the
// patched source tree build.sh prepares (it runs `go test -tags
// runtimecheck` here before it builds daprd; run the same in this folder to
// see the upstream bug). modernc.org/sqlite v1.34.5 drops, without closing it, a
// statement already stepped to its first row when the query's context ends
// at that moment: the connection keeps a read transaction open, and every
// later query on it, back in the pool, reads that old snapshot. In daprd
// that froze the name resolver's view of the registrations ("no host found"
// for a healthy app, for minutes) and can do the same to state.sqlite.
package sqlitecheck

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

func TestQueryEndedByItsDeadlineReleasesItsSnapshot(t *testing.T) {
	dsn := "file:" + filepath.Join(t.TempDir(), "check.db") + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(800)&_txlock=immediate"
	writer, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	reader, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if _, err := writer.Exec("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (0)"); err != nil {
		t.Fatal(err)
	}
	// Deadlines from 0 to 200µs end some queries just as their row is
	// ready, which is the leaking moment; unpatched, about one round in
	// three leaves a pooled connection on an old snapshot.
	deadlineEnded := 0
	for round := 1; round <= 20; round++ {
		for i := range 2000 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%200)*time.Microsecond)
			var v int
			if reader.QueryRowContext(ctx, "SELECT v FROM t").Scan(&v) != nil {
				deadlineEnded++
			}
			cancel()
		}
		if _, err := writer.Exec("UPDATE t SET v = ?", round); err != nil {
			t.Fatal(err)
		}
		for range 20 {
			var v int
			if err := reader.QueryRow("SELECT v FROM t").Scan(&v); err != nil {
				t.Fatal(err)
			}
			if v != round {
				t.Fatalf("round %d: a read after a committed update saw %d, not %d: a query ended by its deadline left its connection on an old snapshot (%d queries ended by their deadline so far)",
					round, v, round, deadlineEnded)
			}
		}
	}
	if deadlineEnded == 0 {
		t.Fatal("no query ended by its deadline: the check exercised nothing")
	}
	t.Logf("%d queries ended by their deadline; every later read saw the latest commit", deadlineEnded)
}
