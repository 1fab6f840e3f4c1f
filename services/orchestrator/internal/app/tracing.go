package app

import (
	"context"
	"sync"

	"github.com/dapr/durabletask-go/workflow"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"
)

// A job is one trace: the span that submitted it (POST /v1/jobs, or the
// lease from the control plane) is recorded with the job as a W3C
// traceparent, and every activity of its workflow runs in a span of that
// trace. The sidecar hands each activity the trace context of its
// orchestration, which continues the submitting span when the engine
// propagates it; when it does not (an engine that starts a trace of its
// own, or a workflow resumed by another orchestrator), the recorded
// traceparent is the parent and the engine's span a link.

// TraceParent is ctx's span as a W3C traceparent ("" without one).
func TraceParent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c.Get("traceparent")
}

// spanContextOf parses a traceparent; the result is invalid for "".
func spanContextOf(traceparent string) trace.SpanContext {
	if traceparent == "" {
		return trace.SpanContext{}
	}
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": traceparent})
	return trace.SpanContextFromContext(ctx)
}

// JobTraces tells which trace a job belongs to.
type JobTraces interface {
	// TraceParent is the traceparent recorded when the job was submitted;
	// "" when it has none (submitted before tracing, or unsampled).
	TraceParent(ctx context.Context, jobID string) (string, error)
}

// RecordTraces is a JobTraces over the job records, with the jobs this
// process submitted (and looked up) remembered: activities of a running
// job ask once per activity.
type RecordTraces struct {
	store JobStore
	mu    sync.Mutex
	known map[string]string
}

// maxKnownTraces bounds the memory of RecordTraces; past it, half of the
// entries (any half: map order) are forgotten and read again from the
// store when asked.
const maxKnownTraces = 4096

func NewRecordTraces(store JobStore) *RecordTraces {
	return &RecordTraces{store: store, known: map[string]string{}}
}

func (t *RecordTraces) remember(jobID, traceparent string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.known) >= maxKnownTraces {
		n := 0
		for k := range t.known {
			delete(t.known, k)
			if n++; n >= maxKnownTraces/2 {
				break
			}
		}
	}
	t.known[jobID] = traceparent
}

func (t *RecordTraces) TraceParent(ctx context.Context, jobID string) (string, error) {
	t.mu.Lock()
	tp, ok := t.known[jobID]
	t.mu.Unlock()
	if ok {
		return tp, nil
	}
	rec, err := t.store.Get(ctx, jobID)
	if err != nil {
		return "", err
	}
	t.remember(jobID, rec.TraceParent)
	return rec.TraceParent, nil
}

// activityTracer runs each activity in a span of its job's trace.
type activityTracer struct {
	tracer trace.Tracer
	traces JobTraces
	log    *zap.Logger
}

func newActivityTracer(tp trace.TracerProvider, traces JobTraces, log *zap.Logger) *activityTracer {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return &activityTracer{tracer: tp.Tracer("github.com/secure-agent/secure-agent/services/orchestrator"), traces: traces, log: log}
}

// jobRef is the field every activity input has.
type jobRef struct {
	JobID string `json:"job_id"`
}

// parent is the context an activity's span starts from: the engine's span
// when it belongs to the job's trace, the job's recorded span otherwise.
func (t *activityTracer) parent(actx workflow.ActivityContext, jobID string) (context.Context, []trace.Link) {
	ctx := actx.Context()
	engine := trace.SpanContextFromContext(ctx)
	if t.traces == nil || jobID == "" {
		return ctx, nil
	}
	tp, err := t.traces.TraceParent(ctx, jobID)
	if err != nil {
		t.log.Debug("no recorded trace for the job; its activity spans start from the engine's", zap.String("job_id", jobID), zap.Error(err))
		return ctx, nil
	}
	job := spanContextOf(tp)
	if !job.IsValid() || (engine.IsValid() && engine.TraceID() == job.TraceID()) {
		return ctx, nil
	}
	var links []trace.Link
	if engine.IsValid() {
		links = append(links, trace.Link{SpanContext: engine, Attributes: []attribute.KeyValue{attribute.String("secure_agent.link", "workflow engine")}})
	}
	return trace.ContextWithRemoteSpanContext(ctx, job), links
}

// wrap returns act running in a span named after the activity.
func (t *activityTracer) wrap(name string, act workflow.Activity) workflow.Activity {
	return func(actx workflow.ActivityContext) (any, error) {
		var ref jobRef
		_ = actx.GetInput(&ref) // a bad input is the activity's own error to report
		parent, links := t.parent(actx, ref.JobID)
		ctx, span := t.tracer.Start(parent, name, trace.WithSpanKind(trace.SpanKindInternal), trace.WithLinks(links...),
			trace.WithAttributes(attribute.String("secure_agent.job.id", ref.JobID),
				attribute.String("workflow.activity.name", name),
				attribute.Int("workflow.activity.task_id", int(actx.GetTaskID()))))
		defer span.End()
		out, err := act(tracedActivity{ActivityContext: actx, ctx: ctx})
		if err != nil {
			span.SetStatus(codes.Error, "activity failed; the workflow retries it")
		}
		return out, err
	}
}

// tracedActivity is an activity context whose Context carries the span.
type tracedActivity struct {
	workflow.ActivityContext
	ctx context.Context
}

func (a tracedActivity) Context() context.Context { return a.ctx }
