package conntest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/secure-agent/secure-agent/services/extractor/connector/dbobs"
)

// Telemetry is a statement observer whose spans (in memory) and metrics
// (a private registry) a test reads back.
type Telemetry struct {
	Observer *dbobs.Observer
	Spans    *tracetest.SpanRecorder
	Registry *prometheus.Registry
	provider *sdktrace.TracerProvider
}

// NewTelemetry returns an observer recording every span.
func NewTelemetry(t testing.TB) *Telemetry {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	reg := prometheus.NewRegistry()
	obs, err := dbobs.New(tp, reg)
	require.NoError(t, err)
	return &Telemetry{Observer: obs, Spans: rec, Registry: reg, provider: tp}
}

// Root starts the span the statements of a test run under, as the
// extractor's "extract partition" span in production.
func (tl *Telemetry) Root(ctx context.Context) (context.Context, trace.Span) {
	return tl.provider.Tracer("test").Start(ctx, "test root")
}

// DBSpans are the ended database client spans, in the order they started.
func (tl *Telemetry) DBSpans() []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range tl.Spans.Ended() {
		if s.SpanKind() == trace.SpanKindClient {
			out = append(out, s)
		}
	}
	// Ended is in end order; a statement never overlaps another, but sort
	// by start anyway so the order is the order sent.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].StartTime().Before(out[j-1].StartTime()); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// Statements lists the secure_agent.statement of spans.
func Statements(spans []sdktrace.ReadOnlySpan) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = Attr(s, dbobs.StatementKey).AsString()
	}
	return out
}

// Attr is the value of attribute k of s (an empty value when unset).
func Attr(s sdktrace.ReadOnlySpan, k attribute.Key) attribute.Value {
	for _, a := range s.Attributes() {
		if a.Key == k {
			return a.Value
		}
	}
	return attribute.Value{}
}

// Want is what every statement span of a connection must carry.
type Want struct {
	System    string
	Namespace string // "" when the attribute must be absent
	Address   string // "" when server.address must be absent
	Port      int
	Connector string
	Parent    trace.SpanContext
	// Statements is the connector's fixed set; every span names one.
	Statements []dbobs.Statement
}

// RequireDBSpans checks the attributes of every span against want: the
// current semantic conventions, a known statement whose summary is the
// span name, no query text, and want.Parent as parent.
func RequireDBSpans(t testing.TB, spans []sdktrace.ReadOnlySpan, want Want) {
	t.Helper()
	require.NotEmpty(t, spans)
	known := map[string]dbobs.Statement{}
	for _, st := range want.Statements {
		known[st.Name] = st
	}
	for _, s := range spans {
		name := Attr(s, dbobs.StatementKey).AsString()
		st, ok := known[name]
		require.True(t, ok, "span %q names statement %q, not one of the connector's", s.Name(), name)
		require.NotEqual(t, "other", name, "a statement the connector does not name was sent")
		require.Equal(t, trace.SpanKindClient, s.SpanKind())
		require.Equal(t, st.Summary, s.Name())
		require.Equal(t, st.Summary, Attr(s, semconv.DBQuerySummaryKey).AsString())
		require.Equal(t, st.Operation, Attr(s, semconv.DBOperationNameKey).AsString())
		require.Equal(t, want.System, Attr(s, semconv.DBSystemNameKey).AsString(), "statement %s", name)
		require.Equal(t, want.Connector, Attr(s, dbobs.ConnectorKey).AsString())
		require.Equal(t, want.Namespace, Attr(s, semconv.DBNamespaceKey).AsString(), "statement %s", name)
		require.Equal(t, want.Address, Attr(s, semconv.ServerAddressKey).AsString())
		require.Equal(t, int64(want.Port), Attr(s, semconv.ServerPortKey).AsInt64())
		require.Equal(t, attribute.Value{}, Attr(s, semconv.DBQueryTextKey), "the query text must never be recorded")
		require.Equal(t, want.Parent.SpanID(), s.Parent().SpanID(), "statement %s is a child of the run's span", name)
		require.Equal(t, want.Parent.TraceID(), s.SpanContext().TraceID())
	}
}

// RequireNoSecret fails if secret appears in any span's name, attribute,
// event, link or status.
func RequireNoSecret(t testing.TB, spans []sdktrace.ReadOnlySpan, secret string) {
	t.Helper()
	require.NotEmpty(t, secret)
	for _, s := range spans {
		var texts []string
		texts = append(texts, s.Name(), s.Status().Description)
		for _, a := range s.Attributes() {
			texts = append(texts, string(a.Key), a.Value.Emit())
		}
		for _, e := range s.Events() {
			texts = append(texts, e.Name)
			for _, a := range e.Attributes {
				texts = append(texts, string(a.Key), a.Value.Emit())
			}
		}
		for _, l := range s.Links() {
			for _, a := range l.Attributes {
				texts = append(texts, a.Value.Emit())
			}
		}
		for _, x := range texts {
			require.NotContains(t, x, secret, "span %q", s.Name())
		}
	}
}

// Metric is the value of the counter or the sample count of the
// histogram name with exactly labels ("k=v" pairs), 0 when absent.
func (tl *Telemetry) Metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	families, err := tl.Registry.Gather()
	require.NoError(t, err)
	want := map[string]string{}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		require.True(t, ok, "label %q is not k=v", l)
		want[k] = v
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if !sameLabels(m.GetLabel(), want) {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			default:
				t.Fatalf("%s is neither a counter nor a histogram", name)
			}
		}
	}
	return 0
}

// Series counts the series of name (created, whatever their value).
func (tl *Telemetry) Series(t testing.TB, name string) int {
	t.Helper()
	families, err := tl.Registry.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == name {
			return len(f.GetMetric())
		}
	}
	return 0
}

func sameLabels(got []*dto.LabelPair, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, l := range got {
		if v, ok := want[l.GetName()]; !ok || v != l.GetValue() {
			return false
		}
	}
	return true
}

// Label is "k=v", for Metric.
func Label(k, v string) string { return fmt.Sprintf("%s=%s", k, v) }
