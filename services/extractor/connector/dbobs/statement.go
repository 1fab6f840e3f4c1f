package dbobs

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// StatementKey is our attribute naming the statement: its stable name, as
// in the statement label of the metrics.
const StatementKey = attribute.Key("secure_agent.statement")

// ConnectorKey is our attribute naming the connector (the source kind).
const ConnectorKey = attribute.Key("secure_agent.connector")

// Statement is one of a connector's fixed catalog statements.
type Statement struct {
	// Name is the stable name of ours (secure_agent.statement and the
	// statement label): "columns", "begin".
	Name string
	// Operation is db.operation.name: SELECT, SHOW, BEGIN, COMMIT, ROLLBACK.
	Operation string
	// Summary is db.query.summary and the span name: the operation and the
	// main catalog tables it reads, never a value ("SELECT pg_attribute").
	Summary string
}

// Target is where a connector's statements go: what every span of a
// connection carries. It holds names only, never a DSN or a password.
type Target struct {
	Connector string // the source kind, the connector label (postgres, mysql, sqlite)
	System    string // db.system.name: postgresql, mysql, mariadb, sqlite
	Namespace string // db.namespace: the database ("" when none is selected)
	Address   string // server.address: host name, IP or socket path ("" for a file)
	Port      int    // server.port (0 for none)
	// Classify returns the database's status code in err (SQLSTATE, MySQL
	// error number, SQLite result code; "" when it holds none) and what
	// it means in the connector's own words ("" when it has none). nil:
	// no classification.
	Classify func(error) (code, meaning string)
}

// Run is one statement being observed, from sending it to reading its
// last row. A nil *Run (from a nil Observer) does nothing.
type Run struct {
	o     *Observer
	t     Target
	st    Statement
	span  trace.Span
	start time.Time
}

// Start begins observing statement st sent to t. The returned context
// holds the statement's span; End the run once.
func (o *Observer) Start(ctx context.Context, t Target, st Statement) (context.Context, *Run) {
	tallyOf(ctx, st.Name)
	if o == nil {
		return ctx, nil
	}
	attrs := []attribute.KeyValue{
		semconv.DBSystemNameKey.String(t.System),
		semconv.DBOperationName(st.Operation),
		semconv.DBQuerySummary(st.Summary),
		StatementKey.String(st.Name),
		ConnectorKey.String(t.Connector),
	}
	if t.Namespace != "" {
		attrs = append(attrs, semconv.DBNamespace(t.Namespace))
	}
	if t.Address != "" {
		attrs = append(attrs, semconv.ServerAddress(t.Address))
		if t.Port > 0 {
			attrs = append(attrs, semconv.ServerPort(t.Port))
		}
	}
	name := st.Summary
	if name == "" {
		name = st.Operation
	}
	ctx, span := o.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return ctx, &Run{o: o, t: t, st: st, span: span, start: time.Now()}
}

// SetSystem corrects db.system.name once the statement has told which
// server answered (MySQL or MariaDB).
func (r *Run) SetSystem(system string) {
	if r == nil || system == "" || system == r.t.System {
		return
	}
	r.t.System = system
	r.span.SetAttributes(semconv.DBSystemNameKey.String(system))
}

// Returned records how many rows the statement returned.
func (r *Run) Returned(rows int64) {
	if r == nil || rows < 0 {
		return
	}
	r.span.SetAttributes(semconv.DBResponseReturnedRowsKey.Int64(rows))
}

// End finishes the run: err nil for success, else why the statement
// failed. A failed span gets error.type, the database's status code and a
// status message of the connector's own words, never the server's text: a
// hostile server could echo the password it was sent in an error message.
// The metrics get the result and the duration.
func (r *Run) End(err error) {
	if r == nil {
		return
	}
	took := time.Since(r.start)
	r.o.durations.WithLabelValues(r.t.Connector, r.st.Name).Observe(took.Seconds())
	r.o.statements.WithLabelValues(r.t.Connector, r.st.Name, result(err)).Inc()
	if err != nil {
		code, meaning := "", ""
		if r.t.Classify != nil {
			code, meaning = r.t.Classify(err)
		}
		typ := errorType(err, code)
		if code != "" {
			r.span.SetAttributes(semconv.DBResponseStatusCode(code))
		}
		r.span.SetAttributes(semconv.ErrorTypeKey.String(typ))
		r.span.SetStatus(codes.Error, statusMessage(r.st, typ, meaning))
	}
	r.span.End()
}

// statusMessage says which statement failed and why, from fixed texts.
func statusMessage(st Statement, typ, meaning string) string {
	if meaning == "" {
		meaning = genericMeaning[typ]
	}
	if meaning == "" {
		meaning = "error " + typ
	}
	return "statement " + st.Name + " failed: " + meaning
}

var genericMeaning = map[string]string{
	"timeout":  "no answer in time",
	"canceled": "canceled",
	"network":  "the connection to the database broke",
	"_OTHER":   "the statement or the reading of its rows failed",
}
