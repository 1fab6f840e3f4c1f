package dbobs_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/secure-agent/secure-agent/libs/metricdef"
	"github.com/secure-agent/secure-agent/services/extractor/connector/dbobs"
)

var stColumns = dbobs.Statement{Name: "columns", Operation: "SELECT", Summary: "SELECT pg_attribute"}

// A server may echo what it was sent, the password included, in an error
// message: a failed span keeps the connector's words and the code only.
func TestFailedSpanKeepsNoServerText(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	reg := prometheus.NewRegistry()
	obs, err := dbobs.New(tp, reg)
	require.NoError(t, err)
	const secret = "hunter2-canary"
	target := dbobs.Target{Connector: "postgres", System: "postgresql", Classify: func(err error) (string, string) {
		var coded codedError
		if errors.As(err, &coded) {
			return string(coded), ""
		}
		return "", ""
	}}

	for _, tc := range []struct {
		err        error
		typ        string
		code       string
		status     string
		hasCodeKey bool
	}{
		{errors.New("FATAL: your password " + secret + " is wrong"), "_OTHER", "", "statement columns failed: the statement or the reading of its rows failed", false},
		{fmt.Errorf("read: %w", codedError("42501")), "42501", "42501", "statement columns failed: error 42501", true},
		{fmt.Errorf("read: %w", context.DeadlineExceeded), "timeout", "", "statement columns failed: no answer in time", false},
	} {
		rec.Reset()
		_, run := obs.Start(context.Background(), target, stColumns)
		run.End(tc.err)
		spans := rec.Ended()
		require.Len(t, spans, 1)
		s := spans[0]
		require.Equal(t, codes.Error, s.Status().Code)
		require.Equal(t, tc.status, s.Status().Description)
		attrs := map[string]string{}
		for _, a := range s.Attributes() {
			attrs[string(a.Key)] = a.Value.Emit()
			require.NotContains(t, a.Value.Emit(), secret)
		}
		require.Equal(t, tc.typ, attrs["error.type"])
		_, has := attrs["db.response.status_code"]
		require.Equal(t, tc.hasCodeKey, has)
		require.Empty(t, s.Events(), "no exception event with the error's text")
	}
	require.Equal(t, 3.0, statementCount(t, reg, "error"))
}

type codedError string

func (e codedError) Error() string {
	return "server said: " + string(e) + " (with whatever text it likes)"
}

// statementCount is secure_agent_source_statements_total of the columns
// statement with result.
func statementCount(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != metricdef.SourceStatements.Name {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["result"] == result && labels["statement"] == "columns" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// Without an observer (agentctl) nothing is recorded and nothing fails.
func TestNilObserver(t *testing.T) {
	var obs *dbobs.Observer
	obs.Declare("postgres", []dbobs.Statement{stColumns})
	obs.Connected("postgres", nil)
	ctx, run := obs.Start(context.Background(), dbobs.Target{}, stColumns)
	require.NotNil(t, ctx)
	run.SetSystem("mariadb")
	run.Returned(3)
	run.End(errors.New("x"))
}
