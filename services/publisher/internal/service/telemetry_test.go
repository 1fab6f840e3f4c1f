package service_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/logging"
	"github.com/secure-agent/secure-agent/libs/metricdef"
)

func (h *harness) spansNamed(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range h.spans.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func spanAttr(s sdktrace.ReadOnlySpan, key string) string {
	for _, a := range s.Attributes() {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}

// TestTelemetryOfAJob publishes a job of two partitions to two
// destinations through a real daprd and checks what the publisher's
// metrics, spans and log lines say about it: the backlog rises with every
// verified batch (a redelivered one counted once) and falls to 0 as the
// partitions publish, uploads count per destination, every step is a span
// inside the handler's, and every line of the job names its trace.
func TestTelemetryOfAJob(t *testing.T) {
	h := start(t, nil)
	const id = "job-telemetry"
	dests := []job.Destination{{Binding: "destination"}, {Binding: "mirror", Prefix: "exports/acme"}}
	p0 := h.stageRun(id, "p000", "run-a", []catalog{
		{database: "shop", schema: "sales", tables: 4, cols: 3, tablePrefix: "orders_"},
		{database: "shop", schema: "sales", tables: 2, cols: 2, tablePrefix: "items_"},
	})
	p1 := h.stageRun(id, "p001", "run-b", []catalog{{database: "shop", schema: "sales", tables: 3, cols: 2, tablePrefix: "leads_"}})
	all := append(slices.Clone(p0), p1...)
	for _, b := range all {
		h.publish(job.TopicBatchReady, b)
	}
	h.publish(job.TopicBatchReady, p0[0]) // redelivered
	h.waitMetric(float64(len(all)+1), metricdef.PublisherBatches.Name, "result", "verified")
	require.Equal(t, float64(len(all)), h.metric(metricdef.PublisherBacklog.Name), "a redelivered batch counts once")
	require.Zero(t, h.metric(metricdef.PublisherBatchesPublished.Name))

	h.publish(job.TopicPartitionDone, partitionDone(p0, dests...))
	done0 := h.waitPublishDone(id, "p000", 1)
	require.True(t, done0.OK, done0.Error)
	require.Equal(t, float64(len(p1)), h.metric(metricdef.PublisherBacklog.Name))
	require.Equal(t, float64(len(p0)), h.metric(metricdef.PublisherBatchesPublished.Name))

	h.publish(job.TopicPartitionDone, partitionDone(p1, dests...))
	done1 := h.waitPublishDone(id, "p001", 1)
	require.True(t, done1.OK, done1.Error)
	require.Zero(t, h.metric(metricdef.PublisherBacklog.Name), "every partition published")
	require.Equal(t, float64(len(all)), h.metric(metricdef.PublisherBatchesPublished.Name))
	require.Equal(t, 2.0, h.metric(metricdef.PublisherPartitionDuration.Name, "result", "published"))
	require.Zero(t, h.metric(metricdef.PublisherPartitionDuration.Name, "result", "failed"))

	uploads := append(slices.Clone(done0.Files), done1.Files...)
	var bytes int64
	for _, f := range uploads {
		bytes += f.Bytes
	}
	for _, d := range dests {
		require.Equal(t, float64(len(uploads)), h.metric(metricdef.PublisherUploadFiles.Name, "destination", d.Binding), d.Binding)
		require.Equal(t, float64(bytes), h.metric(metricdef.PublisherUploadBytes.Name, "destination", d.Binding), d.Binding)
		require.Zero(t, h.metric(metricdef.PublisherUploadFailures.Name, "destination", d.Binding), d.Binding)
		require.Equal(t, float64(len(uploads)), h.metric(metricdef.ObjectStoreOps.Name, "binding", d.Binding, "operation", "put", "result", "ok"),
			"the object store counts the same puts")
		require.Equal(t, float64(bytes), h.metric(metricdef.ObjectStoreBytes.Name, "binding", d.Binding, "operation", "put"))
	}
	require.GreaterOrEqual(t, h.metric(metricdef.ObjectStoreOps.Name, "binding", "staging", "operation", "get", "result", "ok"), float64(len(all)))

	_, err := h.finalize(job.FinalizeRequest{JobID: id, Spec: spec(dests...), Partitions: []string{"p000", "p001"}, StartedAt: time.Now()})
	require.NoError(t, err)
	require.Equal(t, 2.0, h.metric(metricdef.PublisherManifests.Name))
	require.Zero(t, h.metric(metricdef.PublisherBacklog.Name))

	// Spans: every step a child of the handler's span, uploads and object
	// store calls nested in the step that made them.
	verified := h.spansNamed("publisher verify batch")
	require.Len(t, verified, len(all)+1)
	for _, s := range verified {
		require.Equal(t, id, spanAttr(s, "secure_agent.job.id"))
		require.Contains(t, []string{"p000", "p001"}, spanAttr(s, "secure_agent.partition.id"))
		require.Equal(t, "verified", spanAttr(s, "secure_agent.result"))
		require.True(t, s.Parent().IsValid(), "inside the consumer span of the delivery")
	}
	compacts := h.spansNamed("publisher compact partition")
	require.Len(t, compacts, 2)
	byID := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range h.spans.Ended() {
		byID[s.SpanContext().SpanID().String()] = s
	}
	for _, c := range compacts {
		require.True(t, c.Parent().IsValid(), "inside the consumer span of the delivery")
		var run sdktrace.ReadOnlySpan
		for _, v := range h.spansNamed("publisher verify run") {
			if spanAttr(v, "secure_agent.partition.id") == spanAttr(c, "secure_agent.partition.id") {
				run = v
			}
		}
		require.NotNil(t, run)
		require.Equal(t, c.Parent().SpanID(), run.Parent().SpanID(), "verify and compact are steps of one handler")
	}
	uploadSpans := h.spansNamed("publisher upload file")
	require.Len(t, uploadSpans, 2*len(uploads))
	perDest := map[string]int{}
	for _, u := range uploadSpans {
		perDest[spanAttr(u, "secure_agent.destination")]++
		parent, ok := byID[u.Parent().SpanID().String()]
		require.True(t, ok, "an upload's parent is recorded")
		require.Equal(t, "publisher compact partition", parent.Name())
		require.Equal(t, spanAttr(parent, "secure_agent.partition.id"), spanAttr(u, "secure_agent.partition.id"))
		require.Equal(t, parent.SpanContext().TraceID(), u.SpanContext().TraceID())
	}
	require.Equal(t, map[string]int{"destination": len(uploads), "mirror": len(uploads)}, perDest)
	var puts int
	for _, s := range h.spansNamed("objectstore put") {
		if parent, ok := byID[s.Parent().SpanID().String()]; ok && parent.Name() == "publisher upload file" {
			require.Equal(t, spanAttr(parent, "secure_agent.destination"), spanAttr(s, "dapr.binding.name"))
			puts++
		}
	}
	require.Equal(t, 2*len(uploads), puts, "each upload is one object-store put inside it")
	manifests := h.spansNamed("publisher write manifest")
	require.Len(t, manifests, 2)
	for _, m := range manifests {
		require.Equal(t, id, spanAttr(m, "secure_agent.job.id"))
		require.True(t, m.Parent().IsValid(), "inside the server span of the invocation")
	}
	for _, s := range h.spans.Ended() {
		text := s.Name() + " " + s.Status().Description
		for _, a := range s.Attributes() {
			text += fmt.Sprintf(" %s=%s", a.Key, a.Value.Emit())
		}
		require.NotContains(t, text, "db.internal", "the DSN never reaches a span")
		require.NotContains(t, text, "orders_0000", "nor a table name")
	}

	// Log lines: every line of the job names its trace and span.
	var lines int
	for _, e := range h.logs.All() {
		fields := e.ContextMap()
		if fields["job_id"] != id {
			continue
		}
		lines++
		require.NotEmpty(t, fields[logging.TraceIDKey], "%q has no trace_id", e.Message)
		require.NotEmpty(t, fields[logging.SpanIDKey], "%q has no span_id", e.Message)
	}
	messages := strings.Join(func() []string {
		var out []string
		for _, e := range h.logs.All() {
			out = append(out, e.Message)
		}
		return out
	}(), "\n")
	require.Contains(t, messages, "partition published")
	require.Contains(t, messages, "job finalized: manifest written")
	require.GreaterOrEqual(t, lines, len(all)+2*len(uploads), "verify and upload lines at debug level were seen")
}
