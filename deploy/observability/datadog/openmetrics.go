package datadog

import (
	"fmt"
	"sort"
	"strings"

	"github.com/secure-agent/secure-agent/libs/metricdef"
)

// The two OpenMetrics checks: one per app container, one per Dapr sidecar.
// Their `app` and `container` tags are the labels the Prometheus rules and
// Grafana dashboards expect (docs/runbooks.md#labels-the-rules-expect), so
// the three sets of assets select the same things.
const (
	TagApp       = "app"
	TagContainer = "container"

	ContainerApp     = "app"
	ContainerSidecar = "daprd"
)

// AppCheck scrapes an app's /metrics (libs/metricdef, plus the Go runtime
// and process collectors). The one override turns the last-success
// timestamp into an age: Datadog's query language has no "now", so the
// check computes now − value at each run (the time_elapsed transformer).
var AppCheck = Check{
	Container:                        ContainerApp,
	Namespace:                        "secure_agent",
	RawMetricPrefix:                  "secure_agent_",
	HistogramBucketsAsDistributions:  true,
	CollectCountersWithDistributions: true,
	Overrides: map[string]Override{
		strings.TrimPrefix(metricdef.LastSuccess.Name, "secure_agent_"): {Name: "last_success_age_seconds", Type: TimeElapsed},
	},
}

// DaprCheck scrapes a Dapr sidecar's metrics port (Dapr's own metric
// names, ../testdata/dapr-metrics.txt).
var DaprCheck = Check{
	Container:                        ContainerSidecar,
	Namespace:                        "dapr",
	RawMetricPrefix:                  "dapr_",
	HistogramBucketsAsDistributions:  true,
	CollectCountersWithDistributions: true,
}

// Checks are both, by container.
func Checks() []Check { return []Check{AppCheck, DaprCheck} }

// Override types (transformers of the OpenMetrics v2 check) used here.
const (
	// TimeElapsed submits now − value as a gauge (a Unix timestamp becomes an age).
	TimeElapsed = "time_elapsed"
	// GaugeType submits the value as a gauge under another name.
	GaugeType = "gauge"
)

// Override renames one family and picks its transformer: an entry
// `{"<family>": {"name": ..., "type": ...}}` of the instance's `metrics`.
type Override struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Check is one OpenMetrics (v2: `openmetrics_endpoint`) check instance of
// the Datadog Agent, without the endpoint and tags, which the chart fills
// in per pod.
type Check struct {
	// Container is the container the check scrapes (the `container` tag).
	Container string
	// Namespace prefixes every metric: "<namespace>.<name>".
	Namespace string
	// RawMetricPrefix is removed from a family's name before anything else
	// (matching `metrics`, overrides, naming).
	RawMetricPrefix string
	// HistogramBucketsAsDistributions sends a histogram's buckets as one
	// Datadog distribution (percentiles in queries: p95:<metric>).
	HistogramBucketsAsDistributions bool
	// CollectCountersWithDistributions also sends a histogram's _count and
	// _sum (as <metric>.count and <metric>.sum) beside the distribution.
	CollectCountersWithDistributions bool
	// Overrides by family name (after RawMetricPrefix is removed).
	Overrides map[string]Override
}

// Instance is the check's instance configuration for one endpoint: the
// JSON of one element of `instances` in an Autodiscovery annotation or in
// conf.d/openmetrics.d/conf.yaml. Field names are the check's options
// (datadog_checks_base openmetrics v2; openmetrics/assets/configuration/spec.yaml).
type Instance struct {
	OpenMetricsEndpoint              string   `json:"openmetrics_endpoint,omitempty"`
	Namespace                        string   `json:"namespace"`
	RawMetricPrefix                  string   `json:"raw_metric_prefix,omitempty"`
	Metrics                          []any    `json:"metrics"`
	HistogramBucketsAsDistributions  bool     `json:"histogram_buckets_as_distributions,omitempty"`
	CollectCountersWithDistributions bool     `json:"collect_counters_with_distributions,omitempty"`
	Tags                             []string `json:"tags,omitempty"`
}

// Instance returns the instance configuration for endpoint with tags (the
// chart passes "" and no tags and fills both in).
func (c Check) Instance(endpoint string, tags ...string) Instance {
	// Every family, by its native type; the overrides are exact names,
	// which the check looks up before the patterns.
	metrics := []any{".*"}
	var names []string
	for n := range c.Overrides {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		metrics = append(metrics, map[string]Override{n: c.Overrides[n]})
	}
	return Instance{
		OpenMetricsEndpoint:              endpoint,
		Namespace:                        c.Namespace,
		RawMetricPrefix:                  c.RawMetricPrefix,
		Metrics:                          metrics,
		HistogramBucketsAsDistributions:  c.HistogramBucketsAsDistributions,
		CollectCountersWithDistributions: c.CollectCountersWithDistributions,
		Tags:                             tags,
	}
}

// Kind is the Datadog type a metric is submitted as.
type Kind string

const (
	// Count: a monotonic_count, the increase since the previous check run
	// (query with .as_count() per interval or .as_rate() per second).
	Count Kind = "count"
	Gauge Kind = "gauge"
	// Distribution: query with p50:, p95:, avg:, count: ...
	Distribution Kind = "distribution"
)

// Metric is one metric the check submits.
type Metric struct {
	Name string
	Kind Kind
}

// Metrics returns the Datadog metrics the check submits for the Prometheus
// family name of type typ (a histogram's name without _bucket), following
// the OpenMetrics v2 check of the Datadog Agent:
//
//  1. The Agent asks for the Prometheus text format (Accept: text/plain),
//     which prometheus_client's parser reads: a counter family loses its
//     `_total` suffix (a counter without one keeps its name: Dapr's).
//  2. RawMetricPrefix is removed (scraper.parse_metrics).
//  3. An override, if any, names the metric and picks its transformer.
//  4. Otherwise by type (openmetrics/v2/transformers): a counter is a
//     monotonic_count named "<name>.count"; a gauge keeps its name; a
//     histogram with buckets as distributions is one distribution named
//     "<name>", plus "<name>.count" and "<name>.sum" monotonic_counts with
//     CollectCountersWithDistributions; without distributions, "<name>.bucket",
//     "<name>.count" and "<name>.sum" monotonic_counts.
//  5. The namespace is prepended with a dot (AgentCheck._format_namespace).
//
// Summaries and untyped families are not used by secure-agent or Dapr and
// are an error here.
func (c Check) Metrics(family string, typ metricdef.Type) ([]Metric, error) {
	name := family
	if typ == metricdef.Counter {
		name = strings.TrimSuffix(name, "_total")
	}
	name = strings.TrimPrefix(name, c.RawMetricPrefix)
	if name == "" {
		return nil, fmt.Errorf("metric %q: nothing left after the prefix %q", family, c.RawMetricPrefix)
	}
	ns := func(n string) string {
		if c.Namespace == "" {
			return n
		}
		return c.Namespace + "." + n
	}
	if o, ok := c.Overrides[name]; ok {
		switch o.Type {
		case TimeElapsed, GaugeType:
			return []Metric{{Name: ns(o.Name), Kind: Gauge}}, nil
		default:
			return nil, fmt.Errorf("metric %q: override type %q is not modelled here", family, o.Type)
		}
	}
	switch typ {
	case metricdef.Counter:
		return []Metric{{Name: ns(name + ".count"), Kind: Count}}, nil
	case metricdef.Gauge:
		return []Metric{{Name: ns(name), Kind: Gauge}}, nil
	case metricdef.Histogram:
		counters := []Metric{{Name: ns(name + ".count"), Kind: Count}, {Name: ns(name + ".sum"), Kind: Count}}
		if !c.HistogramBucketsAsDistributions {
			return append([]Metric{{Name: ns(name + ".bucket"), Kind: Count}}, counters...), nil
		}
		out := []Metric{{Name: ns(name), Kind: Distribution}}
		if c.CollectCountersWithDistributions {
			out = append(out, counters...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("metric %q: type %q is not mapped", family, typ)
}

// Name is the one metric of a counter or gauge family (a histogram's
// distribution), for building queries; it panics on a family the mapping
// refuses, a programming error the tests catch.
func (c Check) Name(family string, typ metricdef.Type) string {
	ms, err := c.Metrics(family, typ)
	if err != nil {
		panic(err)
	}
	return ms[0].Name
}

// HealthCheck is the service check the OpenMetrics check sends for each
// scrape (OK, or CRITICAL when the endpoint does not answer), tagged with
// the instance's tags: "<namespace>.openmetrics.health".
func (c Check) HealthCheck() string { return c.Namespace + ".openmetrics.health" }
