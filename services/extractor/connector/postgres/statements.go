package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/dbobs"
)

// Kind is the Source.Kind this package serves, and the connector label of
// its metrics.
const Kind = "postgres"

// The statements the connector sends, by stable name (docs/connectors.md).
// Every statement goes through pgx, whose query tracer (queryTracer) is
// the one place they are observed; it names them by their SQL text.
var (
	stDatabases   = dbobs.Statement{Name: "databases", Operation: "SELECT", Summary: "SELECT pg_database"}
	stBegin       = dbobs.Statement{Name: "begin", Operation: "BEGIN", Summary: "BEGIN"}
	stSession     = dbobs.Statement{Name: "session", Operation: "SELECT", Summary: "SELECT set_config"}
	stSchemas     = dbobs.Statement{Name: "schemas", Operation: "SELECT", Summary: "SELECT pg_namespace"}
	stColumns     = dbobs.Statement{Name: "columns", Operation: "SELECT", Summary: "SELECT pg_attribute"}
	stConstraints = dbobs.Statement{Name: "constraints", Operation: "SELECT", Summary: "SELECT pg_constraint"}
	stIndexes     = dbobs.Statement{Name: "indexes", Operation: "SELECT", Summary: "SELECT pg_index"}
	stRoutines    = dbobs.Statement{Name: "routines", Operation: "SELECT", Summary: "SELECT pg_proc"}
	stLineage     = dbobs.Statement{Name: "lineage", Operation: "SELECT", Summary: "SELECT pg_rewrite pg_depend"}
	stTables      = dbobs.Statement{Name: "tables", Operation: "SELECT", Summary: "SELECT pg_class"}
	stSnapshot    = dbobs.Statement{Name: "snapshot", Operation: "SELECT", Summary: "SELECT pg_export_snapshot"}
	stUseSnapshot = dbobs.Statement{Name: "use_snapshot", Operation: "SET", Summary: "SET TRANSACTION SNAPSHOT"}
	stViewDefs    = dbobs.Statement{Name: "view_definitions", Operation: "SELECT", Summary: "SELECT pg_class pg_get_viewdef"}
	stCommit      = dbobs.Statement{Name: "commit", Operation: "COMMIT", Summary: "COMMIT"}
	stRollback    = dbobs.Statement{Name: "rollback", Operation: "ROLLBACK", Summary: "ROLLBACK"}
	stPlan        = dbobs.Statement{Name: "plan", Operation: "SELECT", Summary: "SELECT pg_namespace pg_class"}
	stPrivileges  = dbobs.Statement{Name: "privileges", Operation: "SELECT", Summary: "SELECT has_table_privilege"}
	stFilterNames = dbobs.Statement{Name: "filter_names", Operation: "SELECT", Summary: "SELECT pg_namespace pg_class"}
	// stOther would name a statement missing from statementsBySQL: a bug
	// the tests catch, counted rather than given a name from its text.
	stOther = dbobs.Statement{Name: "other", Operation: "OTHER", Summary: "OTHER"}
)

// Statements is every statement the connector may send.
func Statements() []dbobs.Statement {
	return []dbobs.Statement{stDatabases, stBegin, stSession, stSchemas, stColumns, stConstraints, stIndexes, stRoutines,
		stLineage, stTables, stSnapshot, stUseSnapshot, stViewDefs, stCommit, stRollback, stPlan, stPrivileges, stFilterNames, stOther}
}

// statementsBySQL names the catalog statements by their (constant) text.
var statementsBySQL = map[string]dbobs.Statement{
	databasesSQL:      stDatabases,
	sessionSQL:        stSession,
	schemasSQL:        stSchemas,
	columnsSQL:        stColumns,
	constraintsSQL:    stConstraints,
	indexesSQL:        stIndexes,
	routinesSQL:       stRoutines,
	lineageSQL:        stLineage,
	tablesSQL:         stTables,
	exportSnapshotSQL: stSnapshot,
	viewDefsSQL:       stViewDefs,
	planSQL:           stPlan,
	catalogObjectsSQL: stPrivileges,
	namesSQL:          stFilterNames,
}

// statementFor names a statement pgx is about to send; transaction
// control comes from pgx itself (BeginTx, Commit, Rollback).
func statementFor(sql string) dbobs.Statement {
	if st, ok := statementsBySQL[sql]; ok {
		return st
	}
	first, _, _ := strings.Cut(strings.TrimSpace(sql), " ")
	switch strings.ToUpper(first) {
	case "BEGIN":
		return stBegin
	case "COMMIT":
		return stCommit
	case "ROLLBACK":
		return stRollback
	case "SET":
		if strings.HasPrefix(sql, "SET TRANSACTION SNAPSHOT ") {
			return stUseSnapshot
		}
	}
	return stOther
}

// classify is the SQLSTATE of a server error and, for the codes the
// connector explains (errors.go), what it means.
func classify(err error) (code, meaning string) {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		if isConnectionLost(err) {
			return "", "the connection to the server broke"
		}
		return "", ""
	}
	switch code = pgErr.Code; {
	case code == codeLockNotAvailable:
		meaning = "waited too long for a relation another session holds exclusively (lock_timeout)"
	case code == codeOutOfMemory:
		meaning = "the server ran out of lock table space or memory"
	case code == codeInsufficientPrivilege:
		meaning = "permission denied on a catalog object"
	case transientCode(code):
		meaning = "the server cannot serve the statement now (SQLSTATE " + code + ")"
	default:
		meaning = "SQLSTATE " + code
	}
	return code, meaning
}

// Observed returns an Opener whose connectors report every statement and
// connection to obs (a span each, and the source metrics); it declares
// the connector's series. Open is the same without observation.
func Observed(obs *dbobs.Observer) connector.Opener {
	obs.Declare(Kind, Statements())
	return func(_ context.Context, src connector.Source, creds connector.Credentials) (connector.Connector, error) {
		return openObserved(src, creds, obs)
	}
}

// queryTracer observes each statement pgx sends on one connection: pgx
// calls it when the statement starts and, for a query, when its rows are
// closed, so a span lasts from sending to the last row read.
type queryTracer struct {
	obs    *dbobs.Observer
	target dbobs.Target
}

type runKey struct{}

func (t queryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	ctx, run := t.obs.Start(ctx, t.target, statementFor(d.SQL))
	return context.WithValue(ctx, runKey{}, run)
}

func (t queryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	run, _ := ctx.Value(runKey{}).(*dbobs.Run)
	if d.Err == nil && d.CommandTag.Select() {
		run.Returned(d.CommandTag.RowsAffected())
	}
	run.End(d.Err)
}

// target is what the spans of a connection to database carry.
func (c *Connector) target(database string) dbobs.Target {
	return dbobs.Target{
		Connector: Kind, System: "postgresql", Namespace: database,
		Address: c.cfg.Host, Port: int(c.cfg.Port), Classify: classify,
	}
}
