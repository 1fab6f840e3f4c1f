package datadog

import (
	m "github.com/secure-agent/secure-agent/libs/metricdef"
)

func controlPlane() section {
	return section{title: "Control-plane link", groups: []group{
		{title: "Requests", widgets: []widget{
			{kind: timeseriesWidget, title: "Requests", unit: reqPerSec,
				description: "Control-plane API requests per second, by operation and status class (2xx, 4xx, 5xx, error). Flat without a control plane (CONTROLPLANE_URL).",
				series:      one(perSecond(app(m.CPRequests), "operation,class"), "requests")},
			{kind: timeseriesWidget, title: "Request latency", unit: seconds,
				description: "Median and 95th percentile of control-plane request duration, retries included, by operation.",
				series:      p50p95(app(m.CPRequestDuration), "operation", "duration")},
			{kind: timeseriesWidget, title: "Retries", unit: attempts, bars: true,
				description: "Requests repeated after 429, 502-504 or a connection error in each interval, by operation.",
				series:      one(perInterval(app(m.CPRetries), "operation"), "retries")},
		}},
		{title: "Authentication", widgets: []widget{
			{kind: timeseriesWidget, title: "Token fetches", unit: requests, bars: true,
				description: "OAuth access tokens requested from the token endpoint in each interval, by result.",
				series:      one(perInterval(app(m.CPTokens), "result"), "tokens")},
			{kind: timeseriesWidget, title: "Auth failures", unit: errorsUnit, bars: true,
				description: "Authentication failures in each interval, by reason: token_rejected (client credentials refused), unauthorized (401 with a fresh token), forbidden (403).",
				series:      one(perInterval(app(m.CPAuthFailures), "app,reason"), "failures")},
			{kind: timeseriesWidget, title: "Egress refused", unit: connections, bars: true,
				description: "Connections refused in each interval because the host is not on the egress allowlist.",
				series:      one(perInterval(app(m.CPEgressRefused), "app"), "refused")},
		}},
		{title: "Leases and heartbeats", widgets: []widget{
			{kind: timeseriesWidget, title: "Job leases", unit: jobs, width: 6, bars: true,
				description: "Job leases in each interval, by event: acquired, lost (taken back or expired before renewal), released.",
				series:      one(perInterval(app(m.CPLeases), "event"), "leases")},
			{kind: timeseriesWidget, title: "Heartbeats", unit: requests, width: 6, bars: true,
				description: "Heartbeats health sent to the control plane in each interval, by result (ok, error).",
				series:      one(perInterval(app(m.Heartbeats), "result"), "heartbeats")},
		}},
		{title: "Job logs", widgets: []widget{
			{kind: timeseriesWidget, title: "Job log lines shipped", unit: itemsPerSec,
				description: "Job log lines each service published on the job-logs topic per second, and the lines it dropped instead, by reason.",
				series: []series{
					{queries: []string{perSecond(app(m.JobLogLinesPublished), "app")}, alias: "published"},
					{queries: []string{perSecond(app(m.JobLogLinesDropped), "app,reason")}, alias: "dropped"},
				}},
			{kind: timeseriesWidget, title: "Job log lines buffered", unit: items,
				description: "Job log lines waiting in each service's buffer for the next publish.",
				series:      one(value("sum", app(m.JobLogBuffered), "app"), "buffered")},
			{kind: timeseriesWidget, title: "Job log lines uploaded", unit: itemsPerSec,
				description: "Job log lines health uploaded to the control plane per second, and the lines it dropped instead, by reason.",
				series: []series{
					{queries: []string{perSecond(app(m.LogUploadLines), "")}, alias: "uploaded"},
					{queries: []string{perSecond(app(m.LogUploadDropped), "reason")}, alias: "dropped"},
				}},
			{kind: timeseriesWidget, title: "Log upload batches", unit: requests, bars: true,
				description: "Job log batch uploads in each interval, by result: ok, error (kept for a later try), rejected (dropped).",
				series:      one(perInterval(app(m.LogUploadBatches), "result"), "batches")},
			{kind: timeseriesWidget, title: "Log lines held for upload", unit: items,
				description: "Job log lines health holds for upload to the control plane.",
				series:      one(value("sum", app(m.LogUploadBuffered), ""), "held")},
			{kind: timeseriesWidget, title: "Files ingested", unit: files, bars: true,
				description: "Upload files offered to the control plane's ingest API in each interval, by result (ingested; skipped: it already had the file).",
				series:      one(perInterval(app(m.PublisherControlPlaneFiles), "result"), "files")},
		}},
	}}
}
