// Package datadog builds secure-agent's Datadog assets from Go: the
// OpenMetrics check configuration the chart's Autodiscovery annotations
// carry (checks.json, copied to charts/secure-agent/files/datadog/), one
// dashboard equivalent to the five Grafana dashboards (dashboard.json) and
// one monitor per Prometheus alert rule (monitors.json).
//
// Metric names are never typed by hand: every query names a metric through
// Check.Metrics, the one function that maps a Prometheus family (from
// libs/metricdef, or one of Dapr's in ../testdata/dapr-metrics.txt) to the
// names Datadog's OpenMetrics check submits. `go test ./datadog -update`
// rewrites the JSON files; without -update the tests fail when a committed
// file differs from what this code builds, when a file does not decode
// strictly into the Datadog API client's types, or when a query names a
// metric, a tag or a function nobody exports.
package datadog
