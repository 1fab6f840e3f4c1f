// Observability assets and their tests: Grafana dashboards, Prometheus alert
// rules (and their promtool unit tests), Datadog dashboards and monitors,
// generated here and checked against libs/metricdef. Outside go.work, like
// deploy/k8s: its test-only dependencies (the Datadog API client, the
// Grafana foundation SDK) stay out of the services' module graph.
module github.com/secure-agent/secure-agent/deploy/observability

go 1.26.0

replace github.com/secure-agent/secure-agent/libs => ../../libs
