// Package observability generates the dashboards, alert rules and Datadog
// assets in this folder (and their copies in charts/secure-agent/files/) from
// Go code, and its tests check them: strict decoding into the Grafana and
// Datadog types, every metric they query is one libs/metricdef lists (or a
// Dapr metric a live daprd exports), and `promtool test rules` on every
// alert. `GOWORK=off go test ./... -update` rewrites the files; the tests
// fail when a committed file differs from what the code generates.
package observability
