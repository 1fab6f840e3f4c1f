// Package prometheus generates secure-agent's Prometheus alerting and
// recording rules from Go, so that every metric name they select is one
// libs/metricdef defines (or a Dapr sidecar's) and never a retyped string.
//
// The test run with -update writes:
//
//   - secure-agent.rules.yaml: the rule file for production (and its copy
//     charts/secure-agent/files/prometheus/secure-agent.rules.yaml, which the
//     chart's PrometheusRule embeds);
//   - secure-agent.rules.e2e.yaml: the same rules with the E2E timings (short
//     `for` and range windows), for the live-Prometheus end-to-end test;
//   - alerts.json: every alert with its e2e expression and the phase of the
//     end-to-end run in which it is expected to fire.
//
// Without -update the tests fail when a committed file differs from what the
// code generates. The tests also run `promtool check rules` and `promtool
// test rules` (tests/*.yaml, at least one firing and one silent case per
// alert), parse every expression with Prometheus's own parser and check the
// metric, label and label-value names it uses, and check that every
// runbook_url points at a section of docs/runbooks.md.
package prometheus
