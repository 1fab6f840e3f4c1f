package app

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/secure-agent/secure-agent/libs/logging"
	"github.com/secure-agent/secure-agent/libs/metricdef"
)

func recorder() (*tracetest.SpanRecorder, *sdktrace.TracerProvider) {
	rec := tracetest.NewSpanRecorder()
	return rec, sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(rec))
}

func named(rec *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// spanText is what a span exports as text.
func spanText(s sdktrace.ReadOnlySpan) string {
	text := s.Name() + " " + s.Status().Description
	for _, a := range s.Attributes() {
		text += fmt.Sprintf(" %s=%s", a.Key, a.Value.Emit())
	}
	for _, e := range s.Events() {
		text += " " + e.Name
		for _, a := range e.Attributes {
			text += fmt.Sprintf(" %s=%s", a.Key, a.Value.Emit())
		}
	}
	return text
}

// Every beat of Run is the root of its own trace, the control-plane call
// a client span inside it, and what the beat logs names that trace.
func TestRunBeatIsARootSpan(t *testing.T) {
	cp := newFakeControlPlane(t)
	rec, tp := recorder()
	core, logs := observer.New(zapcore.InfoLevel)
	reg := prometheus.NewRegistry()
	h, err := NewHeartbeats(HeartbeatOptions{
		AgentID: "agent-7", Version: "1.2.3", Interval: 20 * time.Millisecond, CheckTimeout: time.Second,
		Status: fixedStatus{readyReport(OK)}, Jobs: fixedJobs{err: errors.New("orchestrator unreachable")},
		Sender: cp.tracedClient(t, 0, tp), Logger: zap.New(core), Registerer: reg, TracerProvider: tp,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Run(ctx)
	}()
	require.Eventually(t, func() bool { return len(named(rec, "health heartbeat")) >= 2 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	<-done

	beats := named(rec, "health heartbeat")
	calls := named(rec, "POST "+fakeAPI+"/heartbeat")
	require.GreaterOrEqual(t, len(calls), 2)
	roots := map[string]sdktrace.ReadOnlySpan{}
	for _, b := range beats {
		require.False(t, b.Parent().IsValid(), "a beat starts its own trace")
		roots[b.SpanContext().SpanID().String()] = b
	}
	for _, c := range calls {
		b, ok := roots[c.Parent().SpanID().String()]
		require.True(t, ok, "the heartbeat call is a child of its beat")
		require.Equal(t, b.SpanContext().TraceID(), c.SpanContext().TraceID())
	}
	for _, s := range rec.Ended() {
		require.NotContains(t, spanText(s), fakeSecret)
	}

	warn := logs.FilterMessageSnippet("heartbeat sent without job counts").All()
	require.NotEmpty(t, warn)
	fields := warn[0].ContextMap()
	b, ok := roots[fmt.Sprint(fields[logging.SpanIDKey])]
	require.True(t, ok, "the line names its beat's span: %v", fields)
	require.Equal(t, b.SpanContext().TraceID().String(), fields[logging.TraceIDKey])

	mfs, err := reg.Gather()
	require.NoError(t, err)
	require.Len(t, mfs, 1)
	require.Equal(t, metricdef.Heartbeats.Name, mfs[0].GetName())
}

// A round that uploads is the root of its own trace, each batch a client
// span in it; an idle round leaves no span; a failed one is an error.
func TestUploadRoundIsARootSpan(t *testing.T) {
	cp := newFakeControlPlane(t, "job-a")
	rec, tp := recorder()
	core, logs := observer.New(zapcore.InfoLevel)
	u := newUploader(t, cp.tracedClient(t, 0, tp), LogUploaderOptions{TracerProvider: tp, Logger: zap.New(core)})

	caller, span := tp.Tracer("test").Start(context.Background(), "caller")
	require.NoError(t, u.Accept(batchOf("job-a", "extractor", 0, "one", "two")))
	ok, err := u.Round(caller)
	require.NoError(t, err)
	require.True(t, ok)
	span.End()
	rounds := named(rec, "health log upload")
	require.Len(t, rounds, 1)
	require.False(t, rounds[0].Parent().IsValid(), "a round starts its own trace")
	jobs := named(rec, "health upload job logs")
	require.Len(t, jobs, 1)
	require.Equal(t, rounds[0].SpanContext().SpanID(), jobs[0].Parent().SpanID(), "lines without a trace: the job's upload is in the round")
	uploads := named(rec, "POST "+fakeAPI+"/jobs/{job_id}/logs")
	require.Len(t, uploads, 1)
	require.Equal(t, jobs[0].SpanContext().SpanID(), uploads[0].Parent().SpanID())
	attrs := map[string]string{}
	for _, a := range uploads[0].Attributes() {
		attrs[string(a.Key)] = a.Value.Emit()
	}
	require.Equal(t, "job-a", attrs["secure_agent.job.id"])

	round(t, u)
	require.Len(t, named(rec, "health log upload"), 1, "nothing to upload, no span")

	cp.setDown(true)
	require.NoError(t, u.Accept(batchOf("job-a", "extractor", 0, "three")))
	require.False(t, round(t, u))
	rounds = named(rec, "health log upload")
	require.Len(t, rounds, 2)
	require.Equal(t, codes.Error, rounds[1].Status().Code)
	warn := logs.FilterMessageSnippet("uploading job logs to the control plane failed").All()
	require.Len(t, warn, 1)
	require.Equal(t, rounds[1].SpanContext().TraceID().String(), warn[0].ContextMap()[logging.TraceIDKey])
	for _, s := range rec.Ended() {
		require.NotContains(t, spanText(s), fakeSecret)
	}
}

// A job's logs written inside a span are uploaded in that span's trace:
// the job's trace shows them reaching the control plane.
func TestJobLogUploadJoinsTheJobTrace(t *testing.T) {
	cp := newFakeControlPlane(t, "job-a")
	rec, tp := recorder()
	u := newUploader(t, cp.tracedClient(t, 0, tp), LogUploaderOptions{TracerProvider: tp})
	b := batchOf("job-a", "extractor", 0, "one", "two")
	for i := range b.Lines {
		b.Lines[i].Fields = map[string]any{logging.TraceIDKey: "4bf92f3577b34da6a3ce929d0e0e4736", logging.SpanIDKey: "00f067aa0ba902b7"}
	}
	require.NoError(t, u.Accept(b))
	require.True(t, round(t, u))
	jobs := named(rec, "health upload job logs")
	require.Len(t, jobs, 1)
	require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", jobs[0].SpanContext().TraceID().String())
	require.Equal(t, "00f067aa0ba902b7", jobs[0].Parent().SpanID().String())
	rounds := named(rec, "health log upload")
	require.Len(t, rounds, 1)
	require.Len(t, jobs[0].Links(), 1)
	require.Equal(t, rounds[0].SpanContext().SpanID(), jobs[0].Links()[0].SpanContext.SpanID())
}
