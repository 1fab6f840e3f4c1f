package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strconv"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/dbobs"
)

// The statements the connector sends, by stable name (docs/connectors.md).
// Every one goes through a session, the one place they are counted and
// observed. Summaries name the catalog tables and pragma functions read.
var (
	stOpen             = dbobs.Statement{Name: "open", Operation: "PRAGMA", Summary: "PRAGMA schema_version"}
	stBegin            = dbobs.Statement{Name: "begin", Operation: "BEGIN", Summary: "BEGIN"}
	stSchemas          = dbobs.Statement{Name: "schemas", Operation: "SELECT", Summary: "SELECT pragma_database_list"}
	stTables           = dbobs.Statement{Name: "tables", Operation: "SELECT", Summary: "SELECT pragma_table_list sqlite_schema"}
	stColumns          = dbobs.Statement{Name: "columns", Operation: "SELECT", Summary: "SELECT pragma_table_list pragma_table_xinfo"}
	stConstraints      = dbobs.Statement{Name: "constraints", Operation: "SELECT", Summary: "SELECT pragma_table_xinfo pragma_foreign_key_list"}
	stIndexes          = dbobs.Statement{Name: "indexes", Operation: "SELECT", Summary: "SELECT pragma_index_list"}
	stStatistics       = dbobs.Statement{Name: "statistics", Operation: "SELECT", Summary: "SELECT pragma_table_list sqlite_stat1"}
	stCommit           = dbobs.Statement{Name: "commit", Operation: "COMMIT", Summary: "COMMIT"}
	stRollback         = dbobs.Statement{Name: "rollback", Operation: "ROLLBACK", Summary: "ROLLBACK"}
	stBrokenCandidates = dbobs.Statement{Name: "broken_candidates", Operation: "SELECT", Summary: "SELECT pragma_table_list"}
	stBrokenColumns    = dbobs.Statement{Name: "broken_columns", Operation: "SELECT", Summary: "SELECT pragma_table_xinfo"}
	stPlan             = dbobs.Statement{Name: "plan", Operation: "SELECT", Summary: "SELECT pragma_database_list pragma_table_list"}
	stVersion          = dbobs.Statement{Name: "version", Operation: "SELECT", Summary: "SELECT sqlite_version"}
	stCatalog          = dbobs.Statement{Name: "catalog", Operation: "SELECT", Summary: "SELECT pragma_table_list"}
	stHasStatistics    = dbobs.Statement{Name: "has_statistics", Operation: "SELECT", Summary: "SELECT pragma_table_list"}
	stFilterNames      = dbobs.Statement{Name: "filter_names", Operation: "SELECT", Summary: "SELECT pragma_database_list pragma_table_list"}
)

// Statements is every statement the connector may send.
func Statements() []dbobs.Statement {
	return []dbobs.Statement{stOpen, stBegin, stSchemas, stTables, stColumns, stConstraints, stIndexes, stStatistics,
		stCommit, stRollback, stBrokenCandidates, stBrokenColumns, stPlan, stVersion, stCatalog, stHasStatistics, stFilterNames}
}

// Observed returns an Opener whose connectors report every statement and
// the opening of the file to obs (a span each, and the source metrics);
// it declares the connector's series. Open is the same without
// observation.
func Observed(obs *dbobs.Observer) connector.Opener {
	obs.Declare(Kind, Statements())
	return func(ctx context.Context, src connector.Source, creds connector.Credentials) (connector.Connector, error) {
		return openObserved(ctx, src, obs)
	}
}

// querier is what a session sends through: *sql.Tx or *sql.DB.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// session sends the statements of one Extract, Preflight or Plan and
// counts them, so Stats.Queries is what SQLite really ran; each is
// observed there (a span and the source metrics).
type session struct {
	c *Connector
	q querier
	n int
	// done: the transaction ended; a later Rollback sends nothing.
	done bool
}

func (c *Connector) session(q querier) *session { return &session{c: c, q: q} }

// start counts and begins observing one statement.
func (s *session) start(ctx context.Context, st dbobs.Statement) (context.Context, *dbobs.Run) {
	s.n++
	return s.c.obs.Start(ctx, s.c.target(), st)
}

// each runs query with args and calls fn for every row, then reports any
// error that ended the iteration; the statement ends with its last row.
func (s *session) each(ctx context.Context, st dbobs.Statement, query string, fn func(*sql.Rows) error, args ...any) (err error) {
	ctx, run := s.start(ctx, st)
	var n int64
	defer func() {
		if err == nil {
			run.Returned(n)
		}
		run.End(err)
	}()
	rows, err := s.q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		n++
		if err := fn(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}

// one scans the first row of query into dest; no row is sql.ErrNoRows.
func (s *session) one(ctx context.Context, st dbobs.Statement, query string, dest ...any) error {
	seen := false
	err := s.each(ctx, st, query, func(rows *sql.Rows) error {
		if seen {
			return nil
		}
		seen = true
		return rows.Scan(dest...)
	})
	if err == nil && !seen {
		return sql.ErrNoRows
	}
	return err
}

// begin starts the read transaction the session then sends through.
func (s *session) begin(ctx context.Context) (*sql.Tx, error) {
	ctx, run := s.start(ctx, stBegin)
	tx, err := s.c.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	run.End(err)
	if err == nil {
		s.q = tx
	}
	return tx, err
}

// commit ends the transaction.
func (s *session) commit(ctx context.Context, tx *sql.Tx) error {
	_, run := s.start(ctx, stCommit)
	s.done = true
	err := tx.Commit()
	run.End(err)
	return err
}

// rollback ends a transaction that was not committed; it is not counted
// in Stats.Queries (a failed or read-only run), but observed.
func (s *session) rollback(ctx context.Context, tx *sql.Tx) {
	if s.done {
		return
	}
	s.done = true
	_, run := s.c.obs.Start(ctx, s.c.target(), stRollback)
	err := tx.Rollback()
	run.End(err)
}

// target is what every span of the file carries: its database name,
// never its path.
func (c *Connector) target() dbobs.Target {
	return dbobs.Target{Connector: Kind, System: "sqlite", Namespace: c.names.Database, Classify: classify}
}

// classify is SQLite's primary result code and, for those explain knows,
// what it means.
func classify(err error) (code, meaning string) {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return "", ""
	}
	primary := se.Code() & 0xff
	code = strconv.Itoa(primary)
	switch primary {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		meaning = "the database stayed locked by another process"
	case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
		meaning = "the file is not a readable SQLite database"
	case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY:
		meaning = "SQLite cannot open the file read-only"
	case sqlite3.SQLITE_ERROR:
		meaning = "SQLite refused the statement (a broken view or a missing module)"
	default:
		meaning = "SQLite result code " + code
	}
	return code, meaning
}
