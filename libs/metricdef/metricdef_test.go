package metricdef

import (
	"flag"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the metric reference in docs/observability.md")

const docPath = "../../docs/observability.md"

var nameRe = regexp.MustCompile(`^secure_agent_[a-z][a-z0-9_]*$`)

func TestDefinitions(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range All() {
		t.Run(d.Name, func(t *testing.T) {
			require.Regexp(t, nameRe, d.Name)
			require.False(t, seen[d.Name], "listed twice")
			seen[d.Name] = true
			require.Contains(t, Groups, d.Group)
			require.NotEmpty(t, d.Apps)
			for _, a := range d.Apps {
				require.Contains(t, AllApps, a)
			}
			require.True(t, strings.HasSuffix(d.Help, "."), "help should be a sentence: %q", d.Help)
			for _, l := range d.Labels {
				require.NotContains(t, []string{"job_id", "job", "table", "schema", "key", "partition"}, l,
					"unbounded label: one series per value")
			}
			switch d.Type {
			case Counter:
				require.True(t, strings.HasSuffix(d.Name, "_total"))
				require.Empty(t, d.Buckets)
			case Histogram:
				require.NotEmpty(t, d.Buckets)
				require.True(t, slices.IsSorted(d.Buckets))
			case Gauge:
				require.False(t, strings.HasSuffix(d.Name, "_total"))
			default:
				t.Fatalf("unknown type %q", d.Type)
			}
		})
	}
}

// TestLint runs client_golang's promlint over every metric, each with one
// series so that it is gathered.
func TestLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	for _, d := range All() {
		values := make([]string, len(d.Labels))
		for i := range values {
			values[i] = "x"
		}
		var c prometheus.Collector
		switch d.Type {
		case Counter:
			v := d.CounterVec()
			v.WithLabelValues(values...).Inc()
			c = v
		case Gauge:
			v := d.GaugeVec()
			v.WithLabelValues(values...).Set(1)
			c = v
		case Histogram:
			v := d.HistogramVec()
			v.WithLabelValues(values...).Observe(1)
			c = v
		}
		require.NoError(t, Register(reg, c))
	}
	mfs, err := reg.Gather()
	require.NoError(t, err)
	require.Len(t, mfs, len(All()))
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	require.NoError(t, err)
	require.Empty(t, problems)
}

func TestLintCatchesABadName(t *testing.T) {
	// The lint above must be able to fail: a counter without _total.
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "secure_agent_things", Help: "Things."})
	c.Inc()
	require.NoError(t, reg.Register(c))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	require.NoError(t, err)
	require.NotEmpty(t, problems)
}

func TestWrongTypePanics(t *testing.T) {
	require.Panics(t, func() { JobsStarted.GaugeVec() })
	require.Panics(t, func() { PartitionsInFlight.CounterVec() })
}

func TestByName(t *testing.T) {
	d, ok := ByName(JobsFinished.Name)
	require.True(t, ok)
	require.Equal(t, JobsFinished.Labels, d.Labels)
	_, ok = ByName("secure_agent_nothing_total")
	require.False(t, ok)
}

// TestReference keeps the generated part of docs/observability.md equal to
// Reference(); -update rewrites it.
func TestReference(t *testing.T) {
	raw, err := os.ReadFile(docPath)
	require.NoError(t, err)
	doc := string(raw)
	begin := strings.Index(doc, ReferenceBegin)
	end := strings.Index(doc, ReferenceEnd)
	require.True(t, begin >= 0 && end > begin, "%s must hold the markers %q and %q", docPath, ReferenceBegin, ReferenceEnd)
	got := doc[begin : end+len(ReferenceEnd)+1]
	want := Reference()
	if *update {
		require.NoError(t, os.WriteFile(docPath, []byte(doc[:begin]+want+doc[end+len(ReferenceEnd)+1:]), 0o644))
		return
	}
	require.Equal(t, want, got, "the metric reference in %s is stale: run go test ./libs/metricdef -update", docPath)
}
