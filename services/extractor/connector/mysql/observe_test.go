package mysql

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/secure-agent/secure-agent/libs/metricdef"
	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/internal/conntest"
)

// readUser creates a user identified by pw that may read the fixture's
// schemas and returns its DSN with the password inline, as agentctl's
// env:NAME form allows, and params (session variables) added.
func (f fixture) readUser(t *testing.T, pw string, params map[string]string) string {
	t.Helper()
	user := "sa_ob_" + randomHex(t, 4)
	_, err := f.db.Exec("CREATE USER " + quoteString(user) + "@'%' IDENTIFIED BY " + quoteString(pw))
	require.NoError(t, err)
	t.Cleanup(func() {
		if _, err := f.db.Exec("DROP USER " + quoteString(user) + "@'%'"); err != nil {
			t.Errorf("drop user %s: %v", user, err)
		}
	})
	for _, s := range f.schemas() {
		_, err := f.db.Exec("GRANT SELECT, SHOW VIEW ON " + quoteIdent(s) + ".* TO " + quoteString(user) + "@'%'")
		require.NoError(t, err)
	}
	cfg, err := mysqldrv.ParseDSN(serverDSN())
	require.NoError(t, err)
	cfg.User, cfg.Passwd, cfg.DBName = user, pw, f.prefix+"sales"
	cfg.Params = params
	return cfg.FormatDSN()
}

// serverWant is what every span of the test server carries.
func serverWant(t *testing.T, f fixture, parent context.Context) conntest.Want {
	t.Helper()
	var v string
	require.NoError(t, f.db.QueryRow("SELECT VERSION()").Scan(&v))
	system := systemMySQL
	if strings.Contains(strings.ToLower(v), "mariadb") {
		system = systemMariaDB
	}
	cfg, err := mysqldrv.ParseDSN(serverDSN())
	require.NoError(t, err)
	w := conntest.Want{System: system, Namespace: f.prefix + "sales", Connector: Kind,
		Parent: trace.SpanContextFromContext(parent), Statements: Statements()}
	if cfg.Net == "unix" {
		w.Address = cfg.Addr
	} else {
		host, port, err := net.SplitHostPort(cfg.Addr)
		require.NoError(t, err)
		w.Address = host
		w.Port, _ = strconv.Atoi(port)
	}
	return w
}

func withoutWarnings(names []string) []string {
	return slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == stWarnings.Name })
}

// Every statement is one database client span under the caller's span,
// named by the connector's fixed set and counted; the system is the
// server that answered (mysql or mariadb) from the first statement on, and
// the password of the DSN appears nowhere.
func TestStatementSpans(t *testing.T) {
	f := loadFixture(t)
	canary := "canary-pw-" + randomHex(t, 8)
	src := f.source()
	src.DSN = f.readUser(t, canary, nil)
	src.AllowInlinePassword = true
	src.Filters.IncludeTables = []string{`.*\.(customers|orders|products)`}

	tel := conntest.NewTelemetry(t)
	open := Observed(tel.Observer)
	require.Equal(t, len(Statements())*2, tel.Series(t, metricdef.SourceStatements.Name), "every statement's series exists before the first")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := open(ctx, src, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })

	w, err := model.NewWriter(&conntest.Sink{}, model.WriterOptions{JobID: "j"})
	require.NoError(t, err)
	runCtx, root := tel.Root(ctx)
	st, err := c.Extract(runCtx, w)
	root.End()
	require.NoError(t, err)

	spans := tel.DBSpans()
	names := conntest.Statements(spans)
	require.Len(t, spans, st.Queries, "one span per statement sent: %v", names)
	require.Equal(t, []string{"probe", "schemas", "tables", "partitions", "columns", "constraints", "indexes", "routines"},
		withoutWarnings(names))
	want := serverWant(t, f, runCtx)
	if want.System == systemMariaDB {
		require.Equal(t, ExtractWarningChecks(src.Filters), len(names)-ExtractQueries, "SHOW WARNINGS after each pushed-down pattern")
	}
	conntest.RequireDBSpans(t, spans, want)
	for _, s := range spans {
		require.Equal(t, codes.Unset, s.Status().Code)
	}
	require.Positive(t, conntest.Attr(spans[slices.Index(names, "columns")], semconv.DBResponseReturnedRowsKey).AsInt64())
	conntest.RequireNoSecret(t, tel.Spans.Ended(), canary)

	for _, name := range withoutWarnings(names) {
		require.Equal(t, 1.0, tel.Metric(t, metricdef.SourceStatements.Name, "connector=mysql", "statement="+name, "result=ok"), name)
		require.Equal(t, 1.0, tel.Metric(t, metricdef.SourceStatementDuration.Name, "connector=mysql", "statement="+name), name)
	}
	require.Equal(t, float64(len(names)-ExtractQueries), tel.Metric(t, metricdef.SourceStatements.Name, "connector=mysql", "statement=warnings", "result=ok"))
	require.Equal(t, 1.0, tel.Metric(t, metricdef.SourceConnections.Name, "connector=mysql", "result=ok"))

	// Preflight and Plan go through the same place.
	tel.Spans.Reset()
	pctx, proot := tel.Root(ctx)
	checks := c.Preflight(pctx)
	_, err = c.(connector.Planner).Plan(pctx)
	proot.End()
	require.NoError(t, err)
	for _, ch := range checks {
		require.NotEqual(t, connector.Fail, ch.Status, "%+v", ch)
	}
	spans = tel.DBSpans()
	require.Equal(t, []string{"probe", "tls_status", "schema_names", "table_names", "probe", "plan"}, withoutWarnings(conntest.Statements(spans)))
	conntest.RequireDBSpans(t, spans, serverWant(t, f, pctx))
	conntest.RequireNoSecret(t, tel.Spans.Ended(), canary)
}

// A statement the server refuses is an error span carrying the server's
// error number as error.type, and an error in the metrics.
func TestFailedStatementSpan(t *testing.T) {
	f := loadFixture(t)
	canary := "canary-pw-" + randomHex(t, 8)
	src := f.source()
	// The session may examine one row per join: the first statement that
	// would read more is refused (ER_TOO_BIG_SELECT).
	src.DSN = f.readUser(t, canary, map[string]string{"max_join_size": "1"})
	src.AllowInlinePassword = true

	tel := conntest.NewTelemetry(t)
	c, err := Observed(tel.Observer)(context.Background(), src, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	w, err := model.NewWriter(&conntest.Sink{}, model.WriterOptions{JobID: "j"})
	require.NoError(t, err)
	runCtx, root := tel.Root(context.Background())
	_, err = c.Extract(runCtx, w)
	root.End()
	require.ErrorContains(t, err, "MAX_JOIN_SIZE")

	spans := tel.DBSpans()
	names := conntest.Statements(spans)
	want := serverWant(t, f, runCtx)
	if names[0] == stProbe.Name && len(names) == 1 {
		// The server did not get to say what it is: the connector's kind.
		want.System = systemMySQL
	}
	conntest.RequireDBSpans(t, spans, want)
	failed := spans[len(spans)-1]
	for _, s := range spans[:len(spans)-1] {
		require.Equal(t, codes.Unset, s.Status().Code, "only the last statement failed: %v", names)
	}
	require.Equal(t, codes.Error, failed.Status().Code)
	require.Equal(t, "1104", conntest.Attr(failed, semconv.ErrorTypeKey).AsString(), "ER_TOO_BIG_SELECT")
	require.Equal(t, "1104", conntest.Attr(failed, semconv.DBResponseStatusCodeKey).AsString())
	require.Equal(t, "statement "+names[len(names)-1]+" failed: the statement would examine more rows than max_join_size allows",
		failed.Status().Description, "the connector's words, not the server's message")
	conntest.RequireNoSecret(t, tel.Spans.Ended(), canary)
	stmt := names[len(names)-1]
	require.Equal(t, 1.0, tel.Metric(t, metricdef.SourceStatements.Name, "connector=mysql", "statement="+stmt, "result=error"))
	require.Equal(t, 0.0, tel.Metric(t, metricdef.SourceStatements.Name, "connector=mysql", "statement="+stmt, "result=ok"))
}

// A refused login is a failed connection in the metrics, and no span.
func TestFailedConnectionCounted(t *testing.T) {
	src := connector.Source{Kind: "mysql", Connection: testConnection, DSN: serverDSN()}
	tel := conntest.NewTelemetry(t)
	c, err := Observed(tel.Observer)(context.Background(), src, password("Wr0ng-canary-p4ss"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	w, err := model.NewWriter(&conntest.Sink{}, model.WriterOptions{JobID: "j"})
	require.NoError(t, err)
	_, err = c.Extract(context.Background(), w)
	require.ErrorContains(t, err, "Access denied")
	require.Equal(t, 1.0, tel.Metric(t, metricdef.SourceConnections.Name, "connector=mysql", "result=error"))
	require.Equal(t, 0.0, tel.Metric(t, metricdef.SourceConnections.Name, "connector=mysql", "result=ok"))
	require.Empty(t, tel.DBSpans())
}
