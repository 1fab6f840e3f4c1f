package grafana

import (
	"github.com/grafana/grafana-foundation-sdk/go/units"

	m "github.com/secure-agent/secure-agent/libs/metricdef"
)

func controlPlane() boardSpec {
	return boardSpec{
		name:  "controlplane",
		uid:   "secure-agent-controlplane",
		title: "secure-agent / Control-plane link",
		description: "The link to the SaaS control plane (CONTROLPLANE_URL): requests, retries, tokens and " +
			"authentication, job leases, heartbeats, job log shipping and upload. Flat at zero without a control plane.",
		rows: []rowSpec{
			{title: "Requests", panels: []panelSpec{
				{kind: timeseriesPanel, title: "Requests", unit: units.RequestsPerSecond,
					description: "Control-plane API requests per second, by operation and status class (2xx, 4xx, 5xx, error).",
					targets: []target{{expr: sumBy("operation, class", rate(m.CPRequests.Name)),
						legend: "{{operation}} {{class}}", when: Always}}},
				{kind: timeseriesPanel, title: "Request latency", unit: units.Seconds,
					description: "Median and 95th percentile of control-plane request duration, retries included, by operation.",
					targets:     p50p95(m.CPRequestDuration.Name, "operation", "{{operation}}", Always)},
				{kind: timeseriesPanel, title: "Retries", unit: units.Short,
					description: "Requests repeated after 429, 502-504 or a connection error in each interval, by operation.",
					targets: []target{{expr: sumBy("operation", increase(m.CPRetries.Name)),
						legend: "{{operation}}", when: Always}}},
			}},
			{title: "Authentication", panels: []panelSpec{
				{kind: timeseriesPanel, title: "Token fetches", unit: units.Short,
					description: "OAuth access tokens requested from the token endpoint in each interval, by result.",
					targets: []target{{expr: sumBy("result", increase(m.CPTokens.Name)),
						legend: "{{result}}", when: Always}}},
				{kind: timeseriesPanel, title: "Auth failures", unit: units.Short,
					description: "Authentication failures in each interval, by reason: token_rejected (client credentials refused), unauthorized (401 with a fresh token), forbidden (403).",
					targets: []target{{expr: sumBy("app, reason", increase(m.CPAuthFailures.Name)),
						legend: "{{app}} {{reason}}", when: Always}}},
				{kind: timeseriesPanel, title: "Egress refused", unit: units.Short,
					description: "Connections refused in each interval because the host is not on the egress allowlist.",
					targets: []target{{expr: sumBy("app", increase(m.CPEgressRefused.Name)),
						legend: "{{app}}", when: Always}}},
			}},
			{title: "Leases and heartbeats", panels: []panelSpec{
				{kind: timeseriesPanel, title: "Job leases", unit: units.Short, width: 12,
					description: "Job leases in each interval, by event: acquired, lost (taken back or expired before renewal), released.",
					targets: []target{{expr: sumBy("event", increase(m.CPLeases.Name)),
						legend: "{{event}}", when: Always}}},
				{kind: timeseriesPanel, title: "Heartbeats", unit: units.Short, width: 12,
					description: "Heartbeats health sent to the control plane in each interval, by result (ok, error).",
					targets: []target{{expr: sumBy("result", increase(m.Heartbeats.Name)),
						legend: "{{result}}", when: Always}}},
			}},
			{title: "Job logs", panels: []panelSpec{
				{kind: timeseriesPanel, title: "Job log lines shipped", unit: units.CountsPerSecond,
					description: "Job log lines each service published on the job-logs topic per second, and the lines it dropped instead, by reason.",
					targets: []target{
						{expr: sumBy("app", rate(m.JobLogLinesPublished.Name)), legend: "{{app}} published", when: Always},
						{expr: sumBy("app, reason", rate(m.JobLogLinesDropped.Name)), legend: "{{app}} dropped {{reason}}", when: Always},
					}},
				{kind: timeseriesPanel, title: "Job log lines buffered", unit: units.Short,
					description: "Job log lines waiting in each service's buffer for the next publish.",
					targets: []target{{expr: sumBy("app", sel(m.JobLogBuffered.Name)),
						legend: "{{app}}", when: Always}}},
				{kind: timeseriesPanel, title: "Job log lines uploaded", unit: units.CountsPerSecond,
					description: "Job log lines health uploaded to the control plane per second, and the lines it dropped instead, by reason.",
					targets: []target{
						{expr: sumBy("", rate(m.LogUploadLines.Name)), legend: "uploaded", when: Always},
						{expr: sumBy("reason", rate(m.LogUploadDropped.Name)), legend: "dropped {{reason}}", when: Always},
					}},
				{kind: timeseriesPanel, title: "Log upload batches", unit: units.Short,
					description: "Job log batch uploads in each interval, by result: ok, error (kept for a later try), rejected (dropped).",
					targets: []target{{expr: sumBy("result", increase(m.LogUploadBatches.Name)),
						legend: "{{result}}", when: Always}}},
				{kind: timeseriesPanel, title: "Log lines held for upload", unit: units.Short,
					description: "Job log lines health holds for upload to the control plane.",
					targets:     []target{{expr: sumBy("", sel(m.LogUploadBuffered.Name)), legend: "held", when: Always}}},
				{kind: timeseriesPanel, title: "Files ingested", unit: units.Short,
					description: "Upload files offered to the control plane's ingest API in each interval, by result (ingested; skipped: it already had the file).",
					targets: []target{{expr: sumBy("result", increase(m.PublisherControlPlaneFiles.Name)),
						legend: "{{result}}", when: Always}}},
			}},
		},
	}
}
