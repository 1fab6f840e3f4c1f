package objectstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/secure-agent/secure-agent/libs/daprclient"
	"github.com/secure-agent/secure-agent/libs/daprtest"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/metricdef"
)

func localStorage(name, root string) string {
	return fmt.Sprintf("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: %s\nspec:\n  type: bindings.localstorage\n"+
		"  version: v1\n  metadata:\n    - name: rootPath\n      value: %q\n", name, root)
}

// TestTelemetryOverRealDaprd drives every operation through a real daprd's
// bindings.localstorage and checks the spans and metrics they leave.
func TestTelemetryOverRealDaprd(t *testing.T) {
	broken := filepath.Join(t.TempDir(), "broken")
	require.NoError(t, os.MkdirAll(broken, 0o700))
	sc := daprtest.Start(t, daprtest.Options{
		AppID: "objects",
		Resources: map[string]string{
			"staging.yaml": localStorage("staging", t.TempDir()),
			"broken.yaml":  localStorage("broken", broken),
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	side, err := daprclient.Connect(ctx, daprclient.Options{AppID: "objects", HTTPPort: sc.HTTPPort, GRPCPort: sc.GRPCPort})
	require.NoError(t, err)
	defer side.Close()
	// The broken store's root becomes a file: writes fail with "not a
	// directory", which is neither success nor a missing object.
	require.NoError(t, os.RemoveAll(broken))
	require.NoError(t, os.WriteFile(broken, []byte("x"), 0o600))

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	reg := prometheus.NewRegistry()
	staging := New(side.Client(), "staging", WithTracerProvider(tp), WithRegisterer(reg))
	// A second store on the same registry counts into the same collectors.
	brokenStore := New(side.Client(), "broken", WithTracerProvider(tp), WithRegisterer(reg))

	ctx, root := tp.Tracer("test").Start(ctx, "job")
	const contents = "CONTENTS-CANARY-9b2e"
	data := []byte(contents + strings.Repeat("x", 1000))
	key := "jobs/j1/p000/r1/table-000000.arrows"
	require.NoError(t, staging.Put(ctx, key, data))
	got, err := staging.Get(ctx, key)
	require.NoError(t, err)
	require.Equal(t, data, got)
	keys, err := staging.List(ctx, "jobs/j1")
	require.NoError(t, err)
	require.Equal(t, []string{key}, keys)
	require.NoError(t, staging.Delete(ctx, key))
	_, err = staging.Get(ctx, key)
	require.Equal(t, errkind.NotFound, errkind.Of(err))
	require.Error(t, brokenStore.Put(ctx, key, data))
	root.End()

	count := func(binding, op, result string) float64 {
		return testutil.ToFloat64(staging.metrics.ops.WithLabelValues(binding, op, result))
	}
	require.Equal(t, 1.0, count("staging", "put", "ok"))
	require.Equal(t, 1.0, count("staging", "get", "ok"))
	require.Equal(t, 1.0, count("staging", "get", "not_found"))
	require.Equal(t, 1.0, count("staging", "list", "ok"))
	require.Equal(t, 1.0, count("staging", "delete", "ok"))
	require.Equal(t, 1.0, count("broken", "put", "error"))
	bytes := func(binding, op string) float64 {
		return testutil.ToFloat64(staging.metrics.bytes.WithLabelValues(binding, op))
	}
	require.Equal(t, float64(len(data)), bytes("staging", "put"))
	require.Equal(t, float64(len(data)), bytes("staging", "get"))
	require.Zero(t, bytes("broken", "put"), "a failed write moved nothing")

	// Every series is one metricdef lists, with its labels.
	mfs, err := reg.Gather()
	require.NoError(t, err)
	require.Len(t, mfs, 3)
	for _, mf := range mfs {
		d, ok := metricdef.ByName(mf.GetName())
		require.True(t, ok, mf.GetName())
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName())
			}
			require.ElementsMatch(t, d.Labels, labels, mf.GetName())
		}
	}
	require.Equal(t, 5, testutil.CollectAndCount(reg, metricdef.ObjectStoreDuration.Name),
		"one duration series per binding and operation: staging put, get, list, delete; broken put")

	spans := rec.Ended()
	var ops []string
	for _, s := range spans {
		if s.Name() == "job" {
			continue
		}
		ops = append(ops, s.Name())
		require.Equal(t, trace.SpanKindClient, s.SpanKind(), s.Name())
		require.Equal(t, root.SpanContext().SpanID(), s.Parent().SpanID(), "%s is a child of the caller's span", s.Name())
		attrs := map[string]string{}
		for _, a := range s.Attributes() {
			attrs[string(a.Key)] = a.Value.Emit()
			require.NotContains(t, a.Value.Emit(), contents, "object contents never reach a span")
		}
		require.Contains(t, []string{"staging", "broken"}, attrs["dapr.binding.name"])
		require.Equal(t, strings.TrimPrefix(s.Name(), "objectstore "), attrs["secure_agent.objectstore.operation"])
		require.NotContains(t, s.Status().Description, contents)
		switch {
		case attrs["dapr.binding.name"] == "broken":
			require.Equal(t, codes.Error, s.Status().Code)
			require.Equal(t, "error", attrs["secure_agent.objectstore.result"])
		case s.Name() == "objectstore list":
			require.Equal(t, "jobs/j1", attrs["secure_agent.objectstore.key"])
			require.Equal(t, "1", attrs["secure_agent.objectstore.keys"])
		default:
			require.Equal(t, key, attrs["secure_agent.objectstore.key"])
			require.NotEqual(t, codes.Error, s.Status().Code, "%s: a missing object is no failure", s.Name())
		}
	}
	require.Equal(t, []string{"objectstore put", "objectstore get", "objectstore list", "objectstore delete",
		"objectstore get", "objectstore put"}, ops)
	require.Equal(t, fmt.Sprint(len(data)), attrOf(spans[0], "secure_agent.objectstore.bytes"))
}

func attrOf(s sdktrace.ReadOnlySpan, key string) string {
	for _, a := range s.Attributes() {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}

// TestNoTelemetryByDefault: a store built without options works, counting
// into collectors nobody exports.
func TestNoTelemetryByDefault(t *testing.T) {
	r := &recorder{}
	s := New(r, "staging")
	require.NoError(t, s.Put(context.Background(), "a", []byte("abc")))
	require.Equal(t, 1.0, testutil.ToFloat64(s.metrics.ops.WithLabelValues("staging", "put", "ok")))
}
