package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/secure-agent/secure-agent/libs/metricdef"
	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/internal/conntest"
	"github.com/secure-agent/secure-agent/services/extractor/connector/sqlite"
)

func sqliteWant(parent context.Context, database string) conntest.Want {
	return conntest.Want{System: "sqlite", Namespace: database, Connector: sqlite.Kind,
		Parent: trace.SpanContextFromContext(parent), Statements: sqlite.Statements()}
}

// observedExtract opens src and extracts it under one root span.
func observedExtract(t *testing.T, tel *conntest.Telemetry, src connector.Source) (context.Context, connector.Connector, connector.Stats, error) {
	t.Helper()
	ctx, root := tel.Root(context.Background())
	defer root.End()
	c, err := sqlite.Observed(tel.Observer)(ctx, src, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	sink := &conntest.Sink{}
	t.Cleanup(sink.Release)
	w, err := model.NewWriter(sink, model.WriterOptions{JobID: "job-1"})
	require.NoError(t, err)
	defer w.Close()
	st, err := c.Extract(ctx, w)
	return ctx, c, st, err
}

// Opening the file and every statement of an extraction are one database
// client span each under the caller's span, named by the fixed statement
// set, and move the metrics.
func TestStatementSpans(t *testing.T) {
	path := createDB(t, "shop.db", fixtureSQL(t))
	tel := conntest.NewTelemetry(t)
	ctx, c, st, err := observedExtract(t, tel, source(path))
	require.NoError(t, err)
	require.Equal(t, len(sqlite.Statements())*2, tel.Series(t, metricdef.SourceStatements.Name))

	spans := tel.DBSpans()
	require.Len(t, spans, 1+st.Queries, "the open statement and one span per statement of Extract")
	require.Equal(t, []string{"open", "begin", "schemas", "tables", "columns", "constraints", "indexes", "statistics", "commit"},
		conntest.Statements(spans))
	conntest.RequireDBSpans(t, spans, sqliteWant(ctx, "shop"))
	for _, s := range spans {
		require.Equal(t, codes.Unset, s.Status().Code)
	}
	conntest.RequireNoSecret(t, spans, filepath.Dir(path)) // the database's name, never the file's path
	require.Positive(t, conntest.Attr(spans[4], semconv.DBResponseReturnedRowsKey).AsInt64(), "columns returned rows")
	for _, name := range conntest.Statements(spans) {
		require.Equal(t, 1.0, tel.Metric(t, metricdef.SourceStatements.Name, "connector=sqlite", "statement="+name, "result=ok"), name)
		require.Equal(t, 1.0, tel.Metric(t, metricdef.SourceStatementDuration.Name, "connector=sqlite", "statement="+name), name)
	}
	require.Equal(t, 1.0, tel.Metric(t, metricdef.SourceConnections.Name, "connector=sqlite", "result=ok"))

	// Preflight (a read-only transaction, rolled back) and Plan.
	tel.Spans.Reset()
	pctx, proot := tel.Root(context.Background())
	checks := c.Preflight(pctx)
	_, err = c.(connector.Planner).Plan(pctx)
	proot.End()
	require.NoError(t, err)
	for _, ch := range checks {
		require.NotEqual(t, connector.Fail, ch.Status, "%+v", ch)
	}
	spans = tel.DBSpans()
	require.Equal(t, []string{"begin", "version", "catalog", "columns", "has_statistics", "rollback", "plan"}, conntest.Statements(spans))
	conntest.RequireDBSpans(t, spans, sqliteWant(pctx, "shop"))
}

// A statement SQLite fails is an error span with SQLite's result code as
// error.type; the statements that then find the broken objects and the
// rollback are spans too.
func TestFailedStatementSpan(t *testing.T) {
	path := createDB(t, "broken.db", brokenSchema)
	tel := conntest.NewTelemetry(t)
	ctx, _, _, err := observedExtract(t, tel, source(path))
	require.ErrorContains(t, err, "main.broken_view")

	spans := tel.DBSpans()
	names := conntest.Statements(spans)
	// One broken_columns per view and virtual table: broken_view, ext, fine_view.
	require.Equal(t, []string{"open", "begin", "schemas", "tables", "columns", "broken_candidates", "broken_columns", "broken_columns",
		"broken_columns", "rollback"}, names)
	conntest.RequireDBSpans(t, spans, sqliteWant(ctx, "broken"))
	columns := spans[4]
	require.Equal(t, codes.Error, columns.Status().Code)
	require.Equal(t, "1", conntest.Attr(columns, semconv.ErrorTypeKey).AsString(), "SQLITE_ERROR")
	require.Equal(t, "1", conntest.Attr(columns, semconv.DBResponseStatusCodeKey).AsString())
	require.Equal(t, "statement columns failed: SQLite refused the statement (a broken view or a missing module)",
		columns.Status().Description)
	require.Equal(t, 1.0, tel.Metric(t, metricdef.SourceStatements.Name, "connector=sqlite", "statement=columns", "result=error"))
	require.Equal(t, 0.0, tel.Metric(t, metricdef.SourceStatements.Name, "connector=sqlite", "statement=columns", "result=ok"))
	require.Equal(t, 2.0, tel.Metric(t, metricdef.SourceStatements.Name, "connector=sqlite", "statement=broken_columns", "result=error"),
		"the broken view and the broken virtual table")
	require.Equal(t, 1.0, tel.Metric(t, metricdef.SourceStatements.Name, "connector=sqlite", "statement=broken_columns", "result=ok"))
}

// A file that cannot be opened is a failed connection.
func TestFailedOpenCounted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.db")
	require.NoError(t, os.WriteFile(path, []byte("not a database, but more than a hundred bytes long so that the header is read "+
		"and found not to be SQLite's at all."), 0o600))
	tel := conntest.NewTelemetry(t)
	_, err := sqlite.Observed(tel.Observer)(context.Background(), source(path), nil)
	require.ErrorContains(t, err, "not a SQLite 3 database")
	require.Equal(t, 1.0, tel.Metric(t, metricdef.SourceConnections.Name, "connector=sqlite", "result=error"))
	require.Empty(t, tel.DBSpans())
}
