// Package dbobs records the catalog statements the connectors send: one
// OpenTelemetry database client span per statement (current semantic
// conventions: db.system.name, db.operation.name, db.namespace,
// db.query.summary) and the source statement and connection metrics of
// libs/metricdef.
//
// Each connector calls it from the one place its statements go through
// (postgres: the pgx query tracer; mysql: its statement counter; sqlite:
// its session), with a Statement from its fixed, documented set
// (docs/connectors.md). Spans carry the statement's name and summary,
// never its text, its parameters, a DSN or a password.
package dbobs

import (
	"context"
	"errors"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/secure-agent/secure-agent/libs/metricdef"
)

// Metric label values.
const (
	ResultOK    = "ok"
	ResultError = "error"
)

// tracerName is the instrumentation scope of the statement spans.
const tracerName = "github.com/secure-agent/secure-agent/services/extractor/connector"

// Observer turns statements into spans and metrics. A nil *Observer
// records nothing (agentctl runs connectors without one).
type Observer struct {
	tracer      trace.Tracer
	statements  *prometheus.CounterVec
	durations   *prometheus.HistogramVec
	connections *prometheus.CounterVec
}

// New builds an observer whose spans go to tp (nil: none) and whose
// metrics are registered on reg (nil: not exported).
func New(tp trace.TracerProvider, reg prometheus.Registerer) (*Observer, error) {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	o := &Observer{
		tracer:      tp.Tracer(tracerName),
		statements:  metricdef.SourceStatements.CounterVec(),
		durations:   metricdef.SourceStatementDuration.HistogramVec(),
		connections: metricdef.SourceConnections.CounterVec(),
	}
	if err := metricdef.Register(reg, o.statements, o.durations, o.connections); err != nil {
		return nil, err
	}
	return o, nil
}

// Declare creates the series of a connector's statements and connections
// at zero, so that rate() and absent() work before the first job.
func (o *Observer) Declare(connector string, statements []Statement) {
	if o == nil {
		return
	}
	for _, r := range []string{ResultOK, ResultError} {
		o.connections.WithLabelValues(connector, r)
		for _, st := range statements {
			o.statements.WithLabelValues(connector, st.Name, r)
		}
	}
	for _, st := range statements {
		o.durations.WithLabelValues(connector, st.Name)
	}
}

// Connected counts one attempt to open a connection to a source (err nil:
// it succeeded).
func (o *Observer) Connected(connector string, err error) {
	if o == nil {
		return
	}
	o.connections.WithLabelValues(connector, result(err)).Inc()
}

func result(err error) string {
	if err != nil {
		return ResultError
	}
	return ResultOK
}

// errorType is the error.type of a failed statement: the database's own
// status code when it gave one (SQLSTATE, MySQL error number, SQLite
// result code), else a small fixed set.
func errorType(err error, code string) string {
	var netErr net.Error
	switch {
	case code != "":
		return code
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &netErr):
		return "network"
	default:
		return "_OTHER"
	}
}
