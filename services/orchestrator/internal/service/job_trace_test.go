package service

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/metricdef"
	"github.com/secure-agent/secure-agent/services/orchestrator/internal/app"
)

// A job is one trace: the span of POST /v1/jobs, continued from the
// caller's traceparent, is the parent of every activity of its workflow,
// and the job's metrics move once per step.
func TestJobIsOneTraceAndCounted(t *testing.T) {
	t.Parallel()
	s := newStack(t, Config{SourceConcurrency: 2})
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	a := s.do(http.MethodPost, "/v1/jobs", specFor("traced", "default/postgres/ok", "30s", "ok_sales", "ok_hr"),
		"traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	require.Equal(t, http.StatusAccepted, a.Status, "submit: %s", a.Body)
	var sub job.Submitted
	require.NoError(t, json.Unmarshal(a.Body, &sub))
	st := s.waitEnd(sub.ID, 60*time.Second)
	require.Equal(t, job.Succeeded, st.State, "errors: %v", st.Errors)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.tp.ForceFlush(ctx))
	activities := map[string]int{}
	fromEngine := 0
	for _, sp := range s.spans.Ended() {
		var activity, jobID string
		for _, kv := range sp.Attributes() {
			switch kv.Key {
			case "workflow.activity.name":
				activity = kv.Value.AsString()
			case "secure_agent.job.id":
				jobID = kv.Value.AsString()
			}
		}
		if activity == "" || jobID != sub.ID {
			continue
		}
		activities[activity]++
		require.Equal(t, traceID, sp.SpanContext().TraceID().String(), "activity %s is outside the job's trace", activity)
		if len(sp.Links()) == 0 {
			fromEngine++
		}
	}
	require.Equal(t, 1, activities[app.ActPreflight], "%v", activities)
	require.Equal(t, 2, activities[app.ActPublishExtract], "%v", activities)
	require.Equal(t, 1, activities[app.ActFinalize], "%v", activities)
	require.GreaterOrEqual(t, activities[app.ActAcquireSlot], 1, "%v", activities)
	require.Equal(t, 1, activities[app.ActReleaseSlot], "%v", activities)
	t.Logf("activity spans: %v; %d parented by the workflow engine's span, the others by the recorded traceparent", activities, fromEngine)

	// The metrics of one successful job with two partitions.
	require.Equal(t, 1.0, sample(t, s, metricdef.JobsStarted.Name, map[string]string{"source_kind": "postgres"}))
	require.Equal(t, 1.0, sample(t, s, metricdef.JobsFinished.Name, map[string]string{"state": "succeeded", "source_kind": "postgres"}))
	require.Equal(t, 0.0, sample(t, s, metricdef.JobsFinished.Name, map[string]string{"state": "failed", "source_kind": "postgres"}))
	require.Equal(t, 2.0, sample(t, s, metricdef.PartitionsDispatched.Name, nil))
	require.Equal(t, 0.0, sample(t, s, metricdef.PartitionsInFlight.Name, nil))
	require.Equal(t, 1.0, sample(t, s, metricdef.JobDuration.Name+"_count", map[string]string{"state": "succeeded", "source_kind": "postgres"}))
	for _, phase := range []string{app.MetricPhasePreflight, app.MetricPhaseQueued, app.MetricPhaseExtract, app.MetricPhaseFinalize} {
		require.Equal(t, 1.0, sample(t, s, metricdef.JobPhaseDuration.Name+"_count", map[string]string{"phase": phase}), phase)
	}
	require.InDelta(t, float64(st.FinishedAt.UnixNano())/1e9,
		sample(t, s, metricdef.LastSuccess.Name, map[string]string{"connection": "default/postgres/ok"}), 0.001)
}
