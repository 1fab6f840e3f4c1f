package grafana

import (
	"github.com/grafana/grafana-foundation-sdk/go/units"
)

// Metric families of Dapr 1.16's sidecar, as Prometheus scrapes them
// (OpenCensus names: counters without _total unless the view's name has
// it, latencies as histograms in milliseconds). Histograms are named
// without _bucket. ../testdata/dapr-metrics.txt lists what a real daprd
// exports, with labels; the tests check every name used here against it.
const (
	daprPubsubEgressCount     = "dapr_component_pubsub_egress_count"
	daprPubsubEgressLatency   = "dapr_component_pubsub_egress_latencies"
	daprPubsubIngressCount    = "dapr_component_pubsub_ingress_count"
	daprPubsubIngressLatency  = "dapr_component_pubsub_ingress_latencies"
	daprInvokeReqSent         = "dapr_runtime_service_invocation_req_sent_total"
	daprInvokeReqRecv         = "dapr_runtime_service_invocation_req_recv_total"
	daprInvokeResRecv         = "dapr_runtime_service_invocation_res_recv_total"
	daprInvokeResRecvLatency  = "dapr_runtime_service_invocation_res_recv_latency_ms"
	daprHTTPServerCount       = "dapr_http_server_request_count"
	daprHTTPServerLatency     = "dapr_http_server_latency"
	daprHTTPClientCount       = "dapr_http_client_completed_count"
	daprGRPCServerCompleted   = "dapr_grpc_io_server_completed_rpcs"
	daprWorkflowOpCount       = "dapr_runtime_workflow_operation_count"
	daprWorkflowOpLatency     = "dapr_runtime_workflow_operation_latency"
	daprWorkflowExecCount     = "dapr_runtime_workflow_execution_count"
	daprWorkflowExecLatency   = "dapr_runtime_workflow_execution_latency"
	daprWorkflowSchedLatency  = "dapr_runtime_workflow_scheduling_latency"
	daprActivityExecCount     = "dapr_runtime_workflow_activity_execution_count"
	daprActivityExecLatency   = "dapr_runtime_workflow_activity_execution_latency"
	daprActivityOpCount       = "dapr_runtime_workflow_activity_operation_count"
	daprComponentInitFail     = "dapr_runtime_component_init_fail_total"
	daprResiliencyCount       = "dapr_resiliency_count"
	daprResiliencyActivations = "dapr_resiliency_activations_total"
	daprSecretCount           = "dapr_component_secret_count"
	daprSecretLatency         = "dapr_component_secret_latencies"
	daprOutputBindingCount    = "dapr_component_output_binding_count"
	daprOutputBindingLatency  = "dapr_component_output_binding_latencies"
	daprStateCount            = "dapr_component_state_count"
	daprStateLatency          = "dapr_component_state_latencies"
)

func daprSidecars() boardSpec {
	return boardSpec{
		name:  "dapr",
		uid:   "secure-agent-dapr",
		title: "secure-agent / Dapr sidecars",
		description: "The Dapr sidecar of each app, from Dapr's own metrics: pub/sub, service invocation, the HTTP " +
			"and gRPC APIs, workflows, components (secret stores, bindings, state) and resiliency. Dapr's latencies are in milliseconds, and it records only calls that take at least one.",
		rows: []rowSpec{
			{title: "Sidecars", panels: []panelSpec{
				{kind: statPanel, title: "Sidecars up", unit: units.NoUnit, upDown: true,
					description: "Whether Prometheus scrapes each sidecar's metrics port (targets with container=\"daprd\").",
					targets:     []target{{expr: sel("up", `container="daprd"`), legend: "{{app}}", when: Always, instant: true}}},
				{kind: timeseriesPanel, title: "Component init failures", unit: units.Short,
					description: "Components a sidecar failed to initialize in each interval, by component; 0 for sidecars without failures. The sidecar log says why.",
					targets: []target{{expr: orZero(sumBy("app, component", increase(daprComponentInitFail))),
						legend: "{{app}} {{component}}", when: Always}}},
				{kind: timeseriesPanel, title: "Resiliency", unit: units.Short,
					description: "Resiliency policies applied (executions) and activated (a retry after a failure, a circuit breaker changing state) in each interval, by app, target and policy.",
					targets: []target{
						{expr: sumBy("app, target, policy", increase(daprResiliencyCount)), legend: "{{app}} {{target}} {{policy}} executed", when: Always},
						{expr: orZero(sumBy("app, target, policy", increase(daprResiliencyActivations))), legend: "{{app}} {{target}} {{policy}} activated", when: Always},
					}},
			}},
			{title: "Pub/sub", panels: []panelSpec{
				{kind: timeseriesPanel, title: "Published (egress)", unit: units.OpsPerSecond, width: 12,
					description: "Messages each sidecar published to the broker per second, by topic and success.",
					targets: []target{{expr: sumBy("app, topic, success", rate(daprPubsubEgressCount)),
						legend: "{{app}} {{topic}} success={{success}}", when: Always}}},
				{kind: timeseriesPanel, title: "Publish latency", unit: units.Milliseconds, width: 12,
					description: "95th percentile of the broker's answer time to a publish, by app and topic.",
					targets: []target{{expr: quantile("0.95", daprPubsubEgressLatency, "app, topic"),
						legend: "{{app}} {{topic}} p95", when: Always}}},
				{kind: timeseriesPanel, title: "Delivered (ingress)", unit: units.OpsPerSecond, width: 12,
					description: "Messages each sidecar delivered to its app per second, by topic and the app's answer (process_status: success, retry, drop).",
					targets: []target{{expr: sumBy("app, topic, process_status", rate(daprPubsubIngressCount)),
						legend: "{{app}} {{topic}} {{process_status}}", when: Always}}},
				{kind: timeseriesPanel, title: "Delivery processing latency", unit: units.Milliseconds, width: 12,
					description: "95th percentile of the time the app took to process a delivered message, by app and topic.",
					targets: []target{{expr: quantile("0.95", daprPubsubIngressLatency, "app, topic"),
						legend: "{{app}} {{topic}} p95", when: Always}}},
			}},
			{title: "Service invocation", panels: []panelSpec{
				{kind: timeseriesPanel, title: "Invocations sent", unit: units.RequestsPerSecond,
					description: "Service invocation requests each sidecar sent per second, by destination app.",
					targets: []target{{expr: sumBy("app, dst_app_id", rate(daprInvokeReqSent)),
						legend: "{{app}} → {{dst_app_id}}", when: Always}}},
				{kind: timeseriesPanel, title: "Invocations received", unit: units.RequestsPerSecond,
					description: "Service invocation requests each sidecar received per second, by calling app.",
					targets: []target{{expr: sumBy("app, src_app_id", rate(daprInvokeReqRecv)),
						legend: "{{app}} ← {{src_app_id}}", when: Always}}},
				{kind: timeseriesPanel, title: "Invocation responses", unit: units.RequestsPerSecond,
					description: "Service invocation responses received per second, by app and status code.",
					targets: []target{{expr: sumBy("app, status", rate(daprInvokeResRecv)),
						legend: "{{app}} {{status}}", when: Always}}},
				{kind: timeseriesPanel, title: "Invocation latency", unit: units.Milliseconds,
					description: "95th percentile of service invocation response time, by app.",
					targets: []target{{expr: quantile("0.95", daprInvokeResRecvLatency, "app"),
						legend: "{{app}} p95", when: Always}}},
			}},
			{title: "APIs", panels: []panelSpec{
				{kind: timeseriesPanel, title: "HTTP API requests", unit: units.RequestsPerSecond,
					description: "Requests to each sidecar's HTTP API per second, by method and status.",
					targets: []target{{expr: sumBy("app, method, status", rate(daprHTTPServerCount)),
						legend: "{{app}} {{method}} {{status}}", when: Always}}},
				{kind: timeseriesPanel, title: "HTTP API latency", unit: units.Milliseconds,
					description: "95th percentile of the sidecars' HTTP API response time, by app.",
					targets: []target{{expr: quantile("0.95", daprHTTPServerLatency, "app"),
						legend: "{{app}} p95", when: Always}}},
				{kind: timeseriesPanel, title: "gRPC API calls", unit: units.RequestsPerSecond,
					description: "Calls to each sidecar's gRPC API (the Dapr SDK's transport) per second, by method and status.",
					targets: []target{{expr: sumBy("app, grpc_server_method, grpc_server_status", rate(daprGRPCServerCompleted)),
						legend: "{{app}} {{grpc_server_method}} {{grpc_server_status}}", when: Always}}},
				{kind: timeseriesPanel, title: "Calls to the app", unit: units.RequestsPerSecond,
					description: "HTTP requests each sidecar sent to its app per second (deliveries, invocations, health checks), by status.",
					targets: []target{{expr: sumBy("app, status", rate(daprHTTPClientCount)),
						legend: "{{app}} {{status}}", when: Always}}},
			}},
			{title: "Workflows", panels: []panelSpec{
				{kind: timeseriesPanel, title: "Workflow operations", unit: units.OpsPerSecond,
					description: "Workflow operations (create, get, add event, purge) per second, by operation and status.",
					targets: []target{{expr: sumBy("app, operation, status", rate(daprWorkflowOpCount)),
						legend: "{{app}} {{operation}} {{status}}", when: Always}}},
				{kind: timeseriesPanel, title: "Workflow operation latency", unit: units.Milliseconds,
					description: "95th percentile of workflow operation latency, by operation.",
					targets: []target{{expr: quantile("0.95", daprWorkflowOpLatency, "app, operation"),
						legend: "{{app}} {{operation}} p95", when: Always}}},
				{kind: timeseriesPanel, title: "Workflow executions", unit: units.Short,
					description: "Workflow executions in each interval, by workflow and status (success, failed, recoverable).",
					targets: []target{{expr: sumBy("app, workflow_name, status", increase(daprWorkflowExecCount)),
						legend: "{{app}} {{workflow_name}} {{status}}", when: Always}}},
				{kind: timeseriesPanel, title: "Workflow execution latency", unit: units.Milliseconds,
					description: "95th percentile of workflow execution time, by workflow.",
					targets: []target{{expr: quantile("0.95", daprWorkflowExecLatency, "app, workflow_name"),
						legend: "{{app}} {{workflow_name}} p95", when: Always}}},
				{kind: timeseriesPanel, title: "Workflow scheduling latency", unit: units.Milliseconds,
					description: "95th percentile of the time between a workflow execution request and its execution, by workflow.",
					targets: []target{{expr: quantile("0.95", daprWorkflowSchedLatency, "app, workflow_name"),
						legend: "{{app}} {{workflow_name}} p95", when: Always}}},
				{kind: timeseriesPanel, title: "Activity executions", unit: units.Short,
					description: "Workflow activity executions in each interval, by activity and status (success, failed, recoverable).",
					targets: []target{{expr: sumBy("app, activity_name, status", increase(daprActivityExecCount)),
						legend: "{{app}} {{activity_name}} {{status}}", when: Always}}},
				{kind: timeseriesPanel, title: "Activity execution latency", unit: units.Milliseconds,
					description: "95th percentile of the time an activity takes to run to completion, by activity.",
					targets: []target{{expr: quantile("0.95", daprActivityExecLatency, "app, activity_name"),
						legend: "{{app}} {{activity_name}} p95", when: Always}}},
				{kind: timeseriesPanel, title: "Activity scheduling", unit: units.Short,
					description: "Requests to schedule activities in each interval, by status (recoverable: the engine could not schedule it in time).",
					targets: []target{{expr: sumBy("app, status", increase(daprActivityOpCount)),
						legend: "{{app}} {{status}}", when: Always}}},
			}},
			{title: "Components", panels: []panelSpec{
				{kind: timeseriesPanel, title: "Secret store calls", unit: units.Short,
					description: "Secret store operations through each sidecar in each interval, by store and success: source credentials read for a job, control-plane client credentials.",
					targets: []target{{expr: sumBy("app, component, success", increase(daprSecretCount)),
						legend: "{{app}} {{component}} success={{success}}", when: Always}}},
				{kind: timeseriesPanel, title: "Output binding calls", unit: units.OpsPerSecond,
					description: "Operations on output bindings (the staging and destination object stores) per second, by binding, operation and success.",
					targets: []target{{expr: sumBy("app, component, operation, success", rate(daprOutputBindingCount)),
						legend: "{{app}} {{component}} {{operation}} success={{success}}", when: Always}}},
				{kind: timeseriesPanel, title: "Output binding latency", unit: units.Milliseconds,
					description: "95th percentile of output binding response time, by binding and operation. daprd records only " +
						"calls that took at least 1 ms, so fast local writes may leave it empty.",
					targets: []target{{expr: quantile("0.95", daprOutputBindingLatency, "app, component, operation"),
						legend: "{{app}} {{component}} {{operation}} p95", when: Always}}},
				{kind: timeseriesPanel, title: "State store calls", unit: units.OpsPerSecond,
					description: "State store operations per second (workflow state among them), by store, operation and success.",
					targets: []target{{expr: sumBy("app, component, operation, success", rate(daprStateCount)),
						legend: "{{app}} {{component}} {{operation}} success={{success}}", when: Always}}},
				{kind: timeseriesPanel, title: "State store latency", unit: units.Milliseconds,
					description: "95th percentile of state store response time, by store and operation.",
					targets: []target{{expr: quantile("0.95", daprStateLatency, "app, component, operation"),
						legend: "{{app}} {{component}} {{operation}} p95", when: Always}}},
			}},
		},
	}
}
