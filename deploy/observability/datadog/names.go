package datadog

import (
	"fmt"
	"strings"

	"github.com/secure-agent/secure-agent/libs/metricdef"
)

// DaprFamily is a metric family a Dapr 1.16 sidecar exports, by its
// Prometheus name (OpenCensus: counters without _total unless the view's
// name has one; latencies in milliseconds) and type. The tests check each
// against ../testdata/dapr-metrics.txt, written from a real daprd's scrape.
type DaprFamily struct {
	Name string
	Type metricdef.Type
}

// The Dapr families the dashboard and monitors use.
var (
	daprPubsubEgressCount    = DaprFamily{"dapr_component_pubsub_egress_count", metricdef.Counter}
	daprPubsubEgressLatency  = DaprFamily{"dapr_component_pubsub_egress_latencies", metricdef.Histogram}
	daprPubsubIngressCount   = DaprFamily{"dapr_component_pubsub_ingress_count", metricdef.Counter}
	daprPubsubIngressLatency = DaprFamily{"dapr_component_pubsub_ingress_latencies", metricdef.Histogram}
	daprInvokeReqSent        = DaprFamily{"dapr_runtime_service_invocation_req_sent_total", metricdef.Counter}
	daprInvokeReqRecv        = DaprFamily{"dapr_runtime_service_invocation_req_recv_total", metricdef.Counter}
	daprInvokeResRecv        = DaprFamily{"dapr_runtime_service_invocation_res_recv_total", metricdef.Counter}
	daprInvokeResRecvLatency = DaprFamily{"dapr_runtime_service_invocation_res_recv_latency_ms", metricdef.Histogram}
	daprHTTPServerCount      = DaprFamily{"dapr_http_server_request_count", metricdef.Counter}
	daprHTTPServerLatency    = DaprFamily{"dapr_http_server_latency", metricdef.Histogram}
	daprHTTPClientCount      = DaprFamily{"dapr_http_client_completed_count", metricdef.Counter}
	daprGRPCServerCompleted  = DaprFamily{"dapr_grpc_io_server_completed_rpcs", metricdef.Counter}
	daprWorkflowOpCount      = DaprFamily{"dapr_runtime_workflow_operation_count", metricdef.Counter}
	daprWorkflowOpLatency    = DaprFamily{"dapr_runtime_workflow_operation_latency", metricdef.Histogram}
	daprWorkflowExecCount    = DaprFamily{"dapr_runtime_workflow_execution_count", metricdef.Counter}
	daprWorkflowExecLatency  = DaprFamily{"dapr_runtime_workflow_execution_latency", metricdef.Histogram}
	daprWorkflowSchedLatency = DaprFamily{"dapr_runtime_workflow_scheduling_latency", metricdef.Histogram}
	daprActivityExecCount    = DaprFamily{"dapr_runtime_workflow_activity_execution_count", metricdef.Counter}
	daprActivityExecLatency  = DaprFamily{"dapr_runtime_workflow_activity_execution_latency", metricdef.Histogram}
	daprActivityOpCount      = DaprFamily{"dapr_runtime_workflow_activity_operation_count", metricdef.Counter}
	daprComponentLoaded      = DaprFamily{"dapr_runtime_component_loaded", metricdef.Counter}
	daprComponentInitFail    = DaprFamily{"dapr_runtime_component_init_fail_total", metricdef.Counter}
	daprResiliencyCount      = DaprFamily{"dapr_resiliency_count", metricdef.Counter}
	daprResiliencyActivation = DaprFamily{"dapr_resiliency_activations_total", metricdef.Counter}
	daprSecretCount          = DaprFamily{"dapr_component_secret_count", metricdef.Counter}
	daprOutputBindingCount   = DaprFamily{"dapr_component_output_binding_count", metricdef.Counter}
	daprOutputBindingLatency = DaprFamily{"dapr_component_output_binding_latencies", metricdef.Histogram}
	daprStateCount           = DaprFamily{"dapr_component_state_count", metricdef.Counter}
	daprStateLatency         = DaprFamily{"dapr_component_state_latencies", metricdef.Histogram}
)

// DaprFamilies lists every Dapr family above.
func DaprFamilies() []DaprFamily {
	return []DaprFamily{
		daprPubsubEgressCount, daprPubsubEgressLatency, daprPubsubIngressCount, daprPubsubIngressLatency,
		daprInvokeReqSent, daprInvokeReqRecv, daprInvokeResRecv, daprInvokeResRecvLatency,
		daprHTTPServerCount, daprHTTPServerLatency, daprHTTPClientCount, daprGRPCServerCompleted,
		daprWorkflowOpCount, daprWorkflowOpLatency, daprWorkflowExecCount, daprWorkflowExecLatency,
		daprWorkflowSchedLatency, daprActivityExecCount, daprActivityExecLatency, daprActivityOpCount,
		daprComponentLoaded, daprComponentInitFail, daprResiliencyCount, daprResiliencyActivation,
		daprSecretCount, daprOutputBindingCount, daprOutputBindingLatency, daprStateCount, daprStateLatency,
	}
}

// app is the Datadog name of an app metric: a counter's count, a gauge,
// a histogram's distribution.
func app(d metricdef.Def) string { return AppCheck.Name(d.Name, d.Type) }

// appCount is the Datadog name of a histogram's _count.
func appCount(d metricdef.Def) string { return histogramCount(AppCheck, d.Name, d.Type) }

// dapr is the Datadog name of a Dapr metric.
func dapr(f DaprFamily) string { return DaprCheck.Name(f.Name, f.Type) }

func histogramCount(c Check, family string, typ metricdef.Type) string {
	ms, err := c.Metrics(family, typ)
	if err != nil {
		panic(err)
	}
	for _, m := range ms {
		if m.Kind == Count && strings.HasSuffix(m.Name, ".count") {
			return m.Name
		}
	}
	panic(fmt.Sprintf("%s: the check submits no count for it", family))
}
