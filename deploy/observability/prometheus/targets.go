package prometheus

import "github.com/secure-agent/secure-agent/libs/metricdef"

// The labels the rules expect on every scraped series, set by the scrape
// configuration (docs/runbooks.md, "Labels the rules expect"): `app` names
// the app of the pod or process (orchestrator, extractor, publisher,
// health) and `container` which of its two processes was scraped: the app
// itself or its Dapr sidecar.
const (
	LabelApp       = "app"
	LabelContainer = "container"

	ContainerApp     = "app"
	ContainerSidecar = "daprd"
)

// TargetLabels are labels every scraped series may carry besides its own:
// the two above and what Prometheus adds (job, instance) or Kubernetes
// service discovery usually does (namespace, pod).
var TargetLabels = []string{LabelApp, LabelContainer, "job", "instance", "namespace", "pod"}

// Up is Prometheus's own per-target series: 1 when the last scrape
// succeeded, 0 when it failed.
const Up = "up"

// DaprMetric is a metric a Dapr 1.16 sidecar exports, with the label values
// the rules use. Dapr's metrics come from OpenCensus: counters have no
// `_total` suffix, latencies are in milliseconds.
type DaprMetric struct {
	Name string
	// Labels maps each label to the values it takes (nil: any value).
	Labels map[string][]string
}

// DaprWorkflowExecutions counts workflow executions by outcome (dapr/dapr
// v1.16 pkg/diagnostics/workflow_monitoring.go: the view of
// "runtime/workflow/execution/count" with tags app_id, namespace,
// workflow_name, status; pkg/actors/targets/workflow/orchestrator/run.go
// records "failed" for a workflow that completed failed, terminated or
// cancelled, or hit a non-recoverable error, "recoverable" for one the
// engine will run again, "success" for one that completed).
var DaprWorkflowExecutions = DaprMetric{
	Name: "dapr_runtime_workflow_execution_count",
	Labels: map[string][]string{
		"app_id":        nil,
		"namespace":     nil,
		"workflow_name": nil,
		"status":        {"success", "failed", "recoverable"},
	},
}

// DaprMetrics lists the Dapr metrics the rules select.
func DaprMetrics() []DaprMetric {
	return []DaprMetric{DaprWorkflowExecutions}
}

// appNames are the apps, as the `app` label names them.
var appNames = metricdef.AllApps
