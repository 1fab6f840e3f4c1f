package postgres

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/secure-agent/secure-agent/libs/metricdef"
	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/internal/conntest"
)

func observedOpen(t *testing.T, tel *conntest.Telemetry, src connector.Source) *Connector {
	t.Helper()
	c, err := Observed(tel.Observer)(context.Background(), src, connector.NoCredentials{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c.(*Connector)
}

func want(parent context.Context, namespace string) conntest.Want {
	return conntest.Want{System: "postgresql", Namespace: namespace, Address: "127.0.0.1", Port: 5432, Connector: Kind,
		Parent: spanContext(parent), Statements: Statements()}
}

// Every statement of an extraction is one database client span under the
// caller's span, named by the fixed statement set, and moves the metrics;
// the password of the DSN appears nowhere.
func TestStatementSpans(t *testing.T) {
	t.Parallel()
	db := newDatabase(t, fixtureSQL(t))
	tel := conntest.NewTelemetry(t)
	canary := uniqueName(t, "canary-pw-")
	src := source(db)
	// Trust authentication ignores the password, but the connector holds it.
	src.DSN = "postgres://postgres:" + canary + "@127.0.0.1:5432/postgres"
	src.AllowInlinePassword = true
	src.Filters.IncludeSchemas = []string{regexp.QuoteMeta(db) + `\..*`}

	c := observedOpen(t, tel, src)
	require.Equal(t, len(Statements())*2, tel.Series(t, metricdef.SourceStatements.Name), "every statement's series exists before the first")
	require.Equal(t, 2, tel.Series(t, metricdef.SourceConnections.Name))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w, err := model.NewWriter(&conntest.Sink{}, model.WriterOptions{JobID: "j"})
	require.NoError(t, err)
	runCtx, root := tel.Root(ctx)
	st, err := c.Extract(runCtx, w)
	root.End()
	require.NoError(t, err)

	spans := tel.DBSpans()
	require.Len(t, spans, st.Queries, "one span per statement sent")
	require.Equal(t, []string{"databases", "begin", "session", "schemas", "columns", "constraints", "indexes", "routines",
		"lineage", "snapshot", "tables", "begin", "use_snapshot", "view_definitions", "commit", "commit"}, conntest.Statements(spans))
	conntest.RequireDBSpans(t, spans[:1], want(runCtx, "postgres"))
	conntest.RequireDBSpans(t, spans[1:], want(runCtx, db))
	for _, s := range spans {
		require.Equal(t, codes.Unset, s.Status().Code)
	}
	require.Positive(t, conntest.Attr(spans[10], semconv.DBResponseReturnedRowsKey).AsInt64(), "tables returned rows")
	conntest.RequireNoSecret(t, tel.Spans.Ended(), canary)

	sent := map[string]float64{}
	for _, name := range conntest.Statements(spans) {
		sent[name]++
	}
	for name, n := range sent {
		require.Equal(t, n, tel.Metric(t, metricdef.SourceStatements.Name, "connector=postgres", "statement="+name, "result=ok"), name)
		require.Equal(t, 0.0, tel.Metric(t, metricdef.SourceStatements.Name, "connector=postgres", "statement="+name, "result=error"), name)
		require.Equal(t, n, tel.Metric(t, metricdef.SourceStatementDuration.Name, "connector=postgres", "statement="+name), name)
	}
	require.Equal(t, 3.0, tel.Metric(t, metricdef.SourceConnections.Name, "connector=postgres", "result=ok"), "the server's, the database's and the view definitions'")

	// Preflight and Plan are observed the same way.
	tel.Spans.Reset()
	pctx, proot := tel.Root(ctx)
	checks := c.Preflight(pctx)
	plan, err := c.Plan(pctx)
	proot.End()
	require.NoError(t, err)
	require.Len(t, plan, 1)
	for _, ch := range checks {
		require.NotEqual(t, connector.Fail, ch.Status, "%+v", ch)
	}
	spans = tel.DBSpans()
	require.Equal(t, []string{"databases", "privileges", "filter_names", "databases", "plan"}, conntest.Statements(spans))
	conntest.RequireDBSpans(t, []sdkSpan{spans[0], spans[3]}, want(pctx, "postgres"))
	conntest.RequireDBSpans(t, []sdkSpan{spans[1], spans[2], spans[4]}, want(pctx, db))
	conntest.RequireNoSecret(t, tel.Spans.Ended(), canary)
	require.Equal(t, 3.0, tel.Metric(t, metricdef.SourceStatements.Name, "connector=postgres", "statement=databases", "result=ok"))
	require.Equal(t, 8.0, tel.Metric(t, metricdef.SourceConnections.Name, "connector=postgres", "result=ok"))

	text, err := tel.Registry.Gather()
	require.NoError(t, err)
	for _, f := range text {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				require.NotContains(t, l.GetValue(), canary)
				require.NotContains(t, l.GetValue(), db, "no database names in labels")
			}
		}
	}
}

// A statement the server fails is an error span with the SQLSTATE as
// error.type, counted as an error; the transaction's rollback is a span
// too.
func TestFailedStatementSpan(t *testing.T) {
	t.Parallel()
	db := newDatabase(t, fixtureSQL(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	locker, err := pgx.Connect(ctx, dbDSN(db))
	require.NoError(t, err)
	defer func() { _ = locker.Close(context.Background()) }()
	tx, err := locker.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(context.Background()) }()
	_, err = tx.Exec(ctx, "LOCK TABLE sales.orders IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)

	tel := conntest.NewTelemetry(t)
	c := observedOpen(t, tel, source(db))
	c.lockTimeout = "300ms"
	w, err := model.NewWriter(&conntest.Sink{}, model.WriterOptions{JobID: "j"})
	require.NoError(t, err)
	runCtx, root := tel.Root(ctx)
	_, err = c.Extract(runCtx, w)
	root.End()
	require.ErrorContains(t, err, "another session holds exclusively")

	spans := tel.DBSpans()
	names := conntest.Statements(spans)
	require.Equal(t, "rollback", names[len(names)-1], "%v", names)
	conntest.RequireDBSpans(t, spans[1:], want(runCtx, db))
	var failed []sdkSpan
	for _, s := range spans {
		if s.Status().Code == codes.Error {
			failed = append(failed, s)
		}
	}
	require.Len(t, failed, 1, "%v", names)
	f := failed[0]
	require.Equal(t, names[len(names)-2], conntest.Attr(f, "secure_agent.statement").AsString(), "the statement before the rollback failed")
	require.Equal(t, codeLockNotAvailable, conntest.Attr(f, semconv.ErrorTypeKey).AsString())
	require.Equal(t, codeLockNotAvailable, conntest.Attr(f, semconv.DBResponseStatusCodeKey).AsString())
	require.Equal(t, "statement "+conntest.Attr(f, "secure_agent.statement").AsString()+
		" failed: waited too long for a relation another session holds exclusively (lock_timeout)", f.Status().Description,
		"the connector's words, not the server's message")
	stmt := conntest.Attr(f, "secure_agent.statement").AsString()
	require.Equal(t, 1.0, tel.Metric(t, metricdef.SourceStatements.Name, "connector=postgres", "statement="+stmt, "result=error"))
	require.Equal(t, 0.0, tel.Metric(t, metricdef.SourceStatements.Name, "connector=postgres", "statement="+stmt, "result=ok"))
}

// A connection the server refuses is counted as a failed connection; no
// statement span exists and the password is in no metric.
func TestFailedConnectionCounted(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-canary-Pa55word!"
	fake := newFakeServer(t)
	src := source()
	src.DSN = "postgres://alice@" + fake.addr + "/postgres"
	tel := conntest.NewTelemetry(t)
	c, err := Observed(tel.Observer)(context.Background(), src, staticPassword(secret))
	require.NoError(t, err)
	w, err := model.NewWriter(&conntest.Sink{}, model.WriterOptions{JobID: "j"})
	require.NoError(t, err)
	_, err = c.Extract(context.Background(), w)
	require.Error(t, err)
	require.Equal(t, secret, <-fake.passwords)
	require.Equal(t, 1.0, tel.Metric(t, metricdef.SourceConnections.Name, "connector=postgres", "result=error"))
	require.Equal(t, 0.0, tel.Metric(t, metricdef.SourceConnections.Name, "connector=postgres", "result=ok"))
	require.Empty(t, tel.DBSpans())
}

type sdkSpan = sdktrace.ReadOnlySpan

func spanContext(ctx context.Context) trace.SpanContext { return trace.SpanContextFromContext(ctx) }
