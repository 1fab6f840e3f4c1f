package app

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/logging"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/dbobs"
	"github.com/secure-agent/secure-agent/services/extractor/connector/sqlite"
)

// traced is an extractor and a preflighter running the real SQLite
// connector, whose spans and logs a test reads back.
type traced struct {
	*harness
	p     *Preflighter
	spans *tracetest.SpanRecorder
	tp    *sdktrace.TracerProvider
}

func newTraced(t *testing.T) *traced {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	obs, err := dbobs.New(tp, nil)
	require.NoError(t, err)
	sources := connector.Registry{sqlite.Kind: sqlite.Observed(obs)}
	core, logs := observer.New(zap.DebugLevel)
	h := &harness{staging: &memStore{}, events: &memEvents{}, records: &memRecords{}, logs: logs}
	x, err := NewExtractor(ExtractorOptions{
		Connectors: sources, Credentials: noCreds{}, Staging: h.staging, Events: h.events, Records: h.records,
		FileBytes: 1 << 20, Concurrency: 1, Logger: zap.New(core), TracerProvider: tp,
	})
	require.NoError(t, err)
	h.x = x
	p, err := NewPreflighter(sources, noCreds{}, 0, zap.New(core), x.metrics, tp)
	require.NoError(t, err)
	return &traced{harness: h, p: p, spans: rec, tp: tp}
}

// delivery starts the span the pub/sub router or the HTTP middleware
// starts in production from the sidecar's traceparent.
func (tr *traced) delivery() (context.Context, trace.Span) {
	return tr.tp.Tracer("test").Start(context.Background(), "delivery", trace.WithSpanKind(trace.SpanKindServer))
}

func (tr *traced) named(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range tr.spans.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// requireLinesInSpans checks that every log line carries the trace and
// the span it was written in, one of spans.
func requireLinesInSpans(t *testing.T, logs []observer.LoggedEntry, traceID trace.TraceID, spans map[trace.SpanID]string) {
	t.Helper()
	require.NotEmpty(t, logs)
	for _, e := range logs {
		fields := e.ContextMap()
		require.Equal(t, traceID.String(), fields[logging.TraceIDKey], "line %q", e.Message)
		raw, _ := fields[logging.SpanIDKey].(string)
		sid, err := trace.SpanIDFromHex(raw)
		require.NoError(t, err, "line %q: span_id %q", e.Message, raw)
		_, ok := spans[sid]
		require.True(t, ok, "line %q names span %s, none of the request's", e.Message, raw)
		require.Equal(t, 1, countKey(e.Context, logging.SpanIDKey), "line %q has one span_id", e.Message)
	}
}

func countKey(fields []zapcore.Field, key string) int {
	n := 0
	for _, f := range fields {
		if f.Key == key {
			n++
		}
	}
	return n
}

// One extraction request is one subtree of the delivery's trace: the
// partition's span, a database span per statement, a span per staged file
// and per announcement, every log line naming the span it was written in.
func TestExtractionSpansAndLogs(t *testing.T) {
	tr := newTraced(t)
	path := sqliteShop(t)
	req := job.ExtractRequest{JobID: "job-7", Partition: job.Partition{ID: "p000"}, Attempt: 1,
		Spec: job.Spec{Version: 1, Connection: "conn", Source: job.Source{Kind: sqlite.Kind, DSN: path}}}

	ctx, delivery := tr.delivery()
	require.NoError(t, tr.x.Handle(ctx, req))
	delivery.End()

	parts := tr.named(spanExtract)
	require.Len(t, parts, 1)
	part := parts[0]
	require.Equal(t, delivery.SpanContext().SpanID(), part.Parent().SpanID())
	require.Equal(t, "job-7", attrOf(part, attrJobID))
	require.Equal(t, "p000", attrOf(part, attrPartition))
	require.Equal(t, ResultExtracted, attrOf(part, attrResult))
	require.NotEmpty(t, attrOf(part, attrRun))

	var db int
	for _, s := range tr.spans.Ended() {
		if s.SpanKind() == trace.SpanKindClient {
			db++
			require.Equal(t, part.SpanContext().SpanID(), s.Parent().SpanID(), "statement %s is under the partition's span", s.Name())
		}
	}
	require.Equal(t, 1+sqlite.ExtractQueries, db, "the file's opening and every statement")

	files := len(tr.events.events[job.TopicBatchReady])
	require.Positive(t, files)
	stages, announces := tr.named(spanStage), tr.named(spanAnnounce)
	require.Len(t, stages, files)
	require.Len(t, announces, files)
	for _, s := range append(stages, announces...) {
		require.Equal(t, part.SpanContext().SpanID(), s.Parent().SpanID())
		require.Equal(t, part.SpanContext().TraceID(), s.SpanContext().TraceID())
	}
	require.Equal(t, float64(files), testutil.ToFloat64(tr.x.metrics.announced))

	inRequest := map[trace.SpanID]string{delivery.SpanContext().SpanID(): "delivery"}
	for _, s := range tr.spans.Ended() {
		inRequest[s.SpanContext().SpanID()] = s.Name()
	}
	requireLinesInSpans(t, tr.logs.All(), delivery.SpanContext().TraceID(), inRequest)
	for _, msg := range []string{"extraction run started", "extraction run finished"} {
		lines := tr.logs.FilterMessage(msg).All()
		require.Len(t, lines, 1)
		require.Equal(t, part.SpanContext().SpanID().String(), lines[0].ContextMap()[logging.SpanIDKey], msg)
	}
	staged := tr.logs.FilterMessage("staged file").All()
	require.Len(t, staged, files)
	require.Equal(t, stages[0].SpanContext().SpanID().String(), staged[0].ContextMap()[logging.SpanIDKey])

	// Delivered again: answered from the record, the batches announced
	// again and counted again.
	tr.spans.Reset()
	ctx, again := tr.delivery()
	require.NoError(t, tr.x.Handle(ctx, req))
	again.End()
	require.Len(t, tr.named(spanAnnounce), files)
	require.Empty(t, tr.named(spanStage))
	require.Equal(t, float64(2*files), testutil.ToFloat64(tr.x.metrics.announced))
	require.Equal(t, ResultReplayed, attrOf(tr.named(spanExtract)[0], attrResult))
}

// A failed run is an error span, although its message is answered.
func TestFailedRunSpan(t *testing.T) {
	tr := newTraced(t)
	req := job.ExtractRequest{JobID: "job-8", Partition: job.Partition{ID: "p000"}, Attempt: 1,
		Spec: job.Spec{Version: 1, Connection: "conn", Source: job.Source{Kind: sqlite.Kind, DSN: "/nonexistent/shop.db"}}}
	ctx, delivery := tr.delivery()
	require.NoError(t, tr.x.Handle(ctx, req))
	delivery.End()
	part := tr.named(spanExtract)[0]
	require.Equal(t, "Error", part.Status().Code.String())
	require.Contains(t, part.Status().Description, "does not exist")
	require.Equal(t, ResultFailed, attrOf(part, attrResult))
	requireLinesInSpans(t, tr.logs.All(), delivery.SpanContext().TraceID(),
		map[trace.SpanID]string{delivery.SpanContext().SpanID(): "delivery", part.SpanContext().SpanID(): spanExtract})
}

// A preflight's checks and plan are spans under the request's, with the
// connector's statements below them.
func TestPreflightSpansAndLogs(t *testing.T) {
	tr := newTraced(t)
	spec := job.Spec{Version: 1, Connection: "conn", Source: job.Source{Kind: sqlite.Kind, DSN: sqliteShop(t)}}
	ctx, request := tr.delivery()
	out, err := tr.p.Preflight(ctx, spec)
	request.End()
	require.NoError(t, err)
	require.True(t, out.OK, "%+v", out.Checks)

	pre := tr.named(spanPreflight)
	require.Len(t, pre, 1)
	require.Equal(t, request.SpanContext().SpanID(), pre[0].Parent().SpanID())
	for _, name := range []string{spanChecks, spanPlan} {
		s := tr.named(name)
		require.Len(t, s, 1, name)
		require.Equal(t, pre[0].SpanContext().SpanID(), s[0].Parent().SpanID(), name)
	}
	parents := map[trace.SpanID]bool{pre[0].SpanContext().SpanID(): true, tr.named(spanChecks)[0].SpanContext().SpanID(): true,
		tr.named(spanPlan)[0].SpanContext().SpanID(): true}
	var db int
	for _, s := range tr.spans.Ended() {
		if s.SpanKind() == trace.SpanKindClient {
			db++
			require.True(t, parents[s.Parent().SpanID()], "statement %s under the preflight", s.Name())
		}
	}
	require.Positive(t, db)
	lines := tr.logs.FilterMessage("preflight answered").All()
	require.Len(t, lines, 1)
	require.Equal(t, pre[0].SpanContext().SpanID().String(), lines[0].ContextMap()[logging.SpanIDKey])
	require.Equal(t, 1.0, testutil.ToFloat64(tr.x.metrics.preflight.WithLabelValues(preflightOK)))
}

func attrOf(s sdktrace.ReadOnlySpan, k attribute.Key) string {
	for _, a := range s.Attributes() {
		if a.Key == k {
			return a.Value.Emit()
		}
	}
	return ""
}
