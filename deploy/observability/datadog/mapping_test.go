package datadog

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/metricdef"
)

// The mapping, case by case, against what the OpenMetrics v2 check does
// (openmetrics.go, Check.Metrics).
func TestMetricsMapping(t *testing.T) {
	plain := Check{Namespace: "ns", RawMetricPrefix: "app_"}
	buckets := Check{Namespace: "ns", RawMetricPrefix: "app_", HistogramBucketsAsDistributions: true}
	for _, tc := range []struct {
		name   string
		check  Check
		family string
		typ    metricdef.Type
		want   []Metric
	}{
		{"counter loses _total, submitted as .count", AppCheck, "secure_agent_jobs_finished_total", metricdef.Counter,
			[]Metric{{"secure_agent.jobs_finished.count", Count}}},
		{"counter without _total keeps its name (Dapr)", DaprCheck, "dapr_component_pubsub_egress_count", metricdef.Counter,
			[]Metric{{"dapr.component_pubsub_egress_count.count", Count}}},
		{"Dapr counter with _total", DaprCheck, "dapr_runtime_component_init_fail_total", metricdef.Counter,
			[]Metric{{"dapr.runtime_component_init_fail.count", Count}}},
		{"gauge as is", AppCheck, "secure_agent_partitions_in_flight", metricdef.Gauge,
			[]Metric{{"secure_agent.partitions_in_flight", Gauge}}},
		{"histogram as distribution with its counters", AppCheck, "secure_agent_job_duration_seconds", metricdef.Histogram,
			[]Metric{{"secure_agent.job_duration_seconds", Distribution}, {"secure_agent.job_duration_seconds.count", Count}, {"secure_agent.job_duration_seconds.sum", Count}}},
		{"histogram as distribution alone", buckets, "app_latency_seconds", metricdef.Histogram,
			[]Metric{{"ns.latency_seconds", Distribution}}},
		{"histogram without distributions", plain, "app_latency_seconds", metricdef.Histogram,
			[]Metric{{"ns.latency_seconds.bucket", Count}, {"ns.latency_seconds.count", Count}, {"ns.latency_seconds.sum", Count}}},
		{"a name without the prefix keeps it", AppCheck, "go_goroutines", metricdef.Gauge,
			[]Metric{{"secure_agent.go_goroutines", Gauge}}},
		{"_total is removed before the prefix", Check{Namespace: "x", RawMetricPrefix: "a_"}, "a_b_total", metricdef.Counter,
			[]Metric{{"x.b.count", Count}}},
		{"a gauge named _total keeps it", AppCheck, "secure_agent_odd_total", metricdef.Gauge,
			[]Metric{{"secure_agent.odd_total", Gauge}}},
		{"override: time_elapsed becomes an age gauge", AppCheck, metricdef.LastSuccess.Name, metricdef.Gauge,
			[]Metric{{"secure_agent.last_success_age_seconds", Gauge}}},
		{"no namespace", Check{}, "foo_total", metricdef.Counter, []Metric{{"foo.count", Count}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.check.Metrics(tc.family, tc.typ)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestMetricsMappingRefuses(t *testing.T) {
	_, err := AppCheck.Metrics("secure_agent_x", metricdef.Type("summary"))
	require.ErrorContains(t, err, "not mapped")
	_, err = AppCheck.Metrics("secure_agent_", metricdef.Gauge)
	require.ErrorContains(t, err, "nothing left")
	odd := Check{Overrides: map[string]Override{"x": {Name: "y", Type: "rate"}}}
	_, err = odd.Metrics("x", metricdef.Gauge)
	require.ErrorContains(t, err, "not modelled")
}

// Every metric the apps export maps, and no two families map to one
// Datadog name.
func TestEveryMetricMapsUniquely(t *testing.T) {
	seen := map[string]string{}
	add := func(c Check, family string, typ metricdef.Type) {
		ms, err := c.Metrics(family, typ)
		require.NoError(t, err, family)
		require.NotEmpty(t, ms, family)
		for _, m := range ms {
			if prev, ok := seen[m.Name]; ok {
				t.Errorf("%s and %s both map to %s", prev, family, m.Name)
			}
			seen[m.Name] = family
		}
	}
	for _, d := range metricdef.All() {
		add(AppCheck, d.Name, d.Type)
	}
	fams, err := loadDaprFamilies()
	require.NoError(t, err)
	for _, f := range fams {
		add(DaprCheck, f.name, f.typ)
	}
}

// Every override names a metric the apps export.
func TestOverridesNameExportedMetrics(t *testing.T) {
	for _, c := range Checks() {
		for family := range c.Overrides {
			found := false
			for _, d := range metricdef.All() {
				if d.Name == c.RawMetricPrefix+family {
					found = true
				}
			}
			require.True(t, found, "override %q of the %s check names no metric in libs/metricdef", family, c.Container)
		}
	}
}

// The instance configuration the chart embeds.
func TestInstance(t *testing.T) {
	in := AppCheck.Instance("http://%%host%%:6001/metrics", "app:orchestrator", "container:app")
	require.Equal(t, "secure_agent", in.Namespace)
	require.Equal(t, "secure_agent_", in.RawMetricPrefix)
	require.True(t, in.HistogramBucketsAsDistributions)
	require.True(t, in.CollectCountersWithDistributions)
	require.Equal(t, []any{".*", map[string]Override{"last_success_timestamp_seconds": {Name: "last_success_age_seconds", Type: TimeElapsed}}}, in.Metrics)
	require.Equal(t, []string{"app:orchestrator", "container:app"}, in.Tags)
	require.Equal(t, []any{".*"}, DaprCheck.Instance("").Metrics)
}
