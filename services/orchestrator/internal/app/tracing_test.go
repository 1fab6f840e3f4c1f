package app

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/dapr/durabletask-go/workflow"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
)

type fakeActivity struct {
	ctx   context.Context
	input []byte
}

func (f fakeActivity) GetInput(v any) error       { return json.Unmarshal(f.input, v) }
func (f fakeActivity) GetTaskID() int32           { return 7 }
func (f fakeActivity) GetTaskExecutionID() string { return "x" }
func (f fakeActivity) Context() context.Context   { return f.ctx }

type staticTraces map[string]string

func (s staticTraces) TraceParent(_ context.Context, id string) (string, error) { return s[id], nil }

func spanCtx(t *testing.T, traceID, spanID string) trace.SpanContext {
	t.Helper()
	tid, err := trace.TraceIDFromHex(traceID)
	require.NoError(t, err)
	sid, err := trace.SpanIDFromHex(spanID)
	require.NoError(t, err)
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
}

// An activity whose engine span belongs to another trace runs in the
// job's recorded trace, with the engine's span as a link; one in the
// job's trace keeps the engine's span as parent.
func TestActivitySpanJoinsTheJobTrace(t *testing.T) {
	const jobTrace, otherTrace = "4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c"
	traces := staticTraces{"j-1": "00-" + jobTrace + "-00f067aa0ba902b7-01"}
	for _, tc := range []struct {
		name       string
		engine     trace.SpanContext
		wantParent string
		wantLinks  int
	}{
		{"engine span in the job's trace", spanCtx(t, jobTrace, "1111111111111111"), "1111111111111111", 0},
		{"engine span in another trace", spanCtx(t, otherTrace, "2222222222222222"), "00f067aa0ba902b7", 1},
		{"no engine span", trace.SpanContext{}, "00f067aa0ba902b7", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			at := newActivityTracer(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)), traces, zap.NewNop())
			var inside trace.SpanContext
			act := at.wrap(ActPreflight, func(ctx workflow.ActivityContext) (any, error) {
				inside = trace.SpanContextFromContext(ctx.Context())
				return nil, nil
			})
			ctx := trace.ContextWithRemoteSpanContext(context.Background(), tc.engine)
			_, err := act(fakeActivity{ctx: ctx, input: []byte(`{"job_id":"j-1"}`)})
			require.NoError(t, err)
			require.Len(t, rec.Ended(), 1)
			sp := rec.Ended()[0]
			require.Equal(t, jobTrace, sp.SpanContext().TraceID().String())
			require.Equal(t, tc.wantParent, sp.Parent().SpanID().String())
			require.Len(t, sp.Links(), tc.wantLinks)
			require.Equal(t, sp.SpanContext().SpanID(), inside.SpanID(), "the activity runs in its span")
		})
	}
}
