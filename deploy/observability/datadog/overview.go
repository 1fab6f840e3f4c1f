package datadog

import (
	m "github.com/secure-agent/secure-agent/libs/metricdef"
)

func overview() section {
	finished := app(m.JobsFinished)
	return section{title: "Overview", groups: []group{
		{title: "Health", widgets: []widget{
			{kind: checkStatusWidget, title: "Apps up", width: 3,
				description: "Whether the OpenMetrics check scrapes each app's /metrics (" + AppCheck.HealthCheck() + ", CRITICAL when the endpoint does not answer).",
				check:       AppCheck.HealthCheck(), groupBy: []string{TagApp}, tags: checkTags(ContainerApp)},
			{kind: checkStatusWidget, title: "Sidecars up", width: 3,
				description: "Whether the OpenMetrics check scrapes each Dapr sidecar's metrics port (" + DaprCheck.HealthCheck() + ").",
				check:       DaprCheck.HealthCheck(), groupBy: []string{TagApp}, tags: checkTags(ContainerSidecar)},
			{kind: monitorSummaryWidget, title: "Monitors", width: 3, query: "tag:" + Tag,
				description: "The secure-agent monitors (monitors.json) and their state; the ones in alert first."},
			{kind: tableWidget, title: "Versions", width: 3,
				description: "The running version of each app and the Go release that built it (" + app(m.BuildInfo) + ").",
				series:      one(value("max", app(m.BuildInfo), "app,version,goversion"), "running")},
		}},
		{title: "Jobs", widgets: []widget{
			{kind: timeseriesWidget, title: "Jobs started", unit: jobs, bars: true,
				description: "Jobs whose workflow started in each interval, by source kind.",
				series:      one(perInterval(app(m.JobsStarted), "source_kind"), "started")},
			{kind: timeseriesWidget, title: "Jobs finished", unit: jobs, bars: true,
				description: "Jobs that reached a final state in each interval: succeeded, failed or cancelled.",
				series:      one(perInterval(finished, "state"), "finished")},
			{kind: timeseriesWidget, title: "Job success ratio", unit: fraction,
				description: "Succeeded jobs over all finished jobs in each interval (no value when none finished).",
				series: []series{{queries: []string{perInterval(finished, "", "state:succeeded"), perInterval(finished, "")},
					alias: "success ratio"}}},
			{kind: timeseriesWidget, title: "Failed jobs", unit: jobs, bars: true,
				description: "Jobs that failed in each interval, by source kind. `agentctl jobs show` says why.",
				series:      one(perInterval(finished, "source_kind", "state:failed"), "failed")},
			{kind: timeseriesWidget, title: "Job duration", unit: seconds,
				description: "Median and 95th percentile of job duration, from workflow start to final state, by final state.",
				series:      p50p95(app(m.JobDuration), "state", "duration")},
			{kind: timeseriesWidget, title: "Time since last success", unit: seconds,
				description: "Time since the last job of each connection succeeded (the check computes it from " + m.LastSuccess.Name + "). Compare it with how often the connection is meant to run.",
				series:      one(value("max", app(m.LastSuccess), "connection"), "since last success")},
		}},
		{title: "HTTP API", widgets: []widget{
			{kind: timeseriesWidget, title: "HTTP requests", unit: reqPerSec, width: 6,
				description: "Requests each app served per second (its sidecar's calls, the job API, health's status), by status code.",
				series:      one(perSecond(appCount(m.HTTPRequestDuration), "app,code"), "requests")},
			{kind: timeseriesWidget, title: "HTTP latency", unit: seconds, width: 6,
				description: "95th percentile of the time each app took to answer, by route template.",
				series:      one(percentile("95", app(m.HTTPRequestDuration), "app,route"), "p95")},
		}},
		{title: "Backlog", widgets: []widget{
			{kind: timeseriesWidget, title: "Partitions in flight", unit: tasks,
				description: "Partitions requested from the extractors and not yet published or given up.",
				series:      one(value("sum", app(m.PartitionsInFlight), ""), "in flight")},
			{kind: timeseriesWidget, title: "Publisher backlog", unit: items,
				description: "Batches verified by the publisher whose partition is not yet published (announced but not yet published).",
				series:      one(value("sum", app(m.PublisherBacklog), ""), "backlog")},
			{kind: timeseriesWidget, title: "Dead letters pending", unit: messages,
				description: "Events an app refused, kept by health until replayed or discarded (`agentctl deadletters`).",
				series:      one(value("sum", app(m.DeadLettersPending), ""), "pending")},
		}},
	}}
}

// checkTags filters a check status widget by the template variables and
// the container.
func checkTags(container string) []string {
	return append(append([]string(nil), dashScope...), TagContainer+":"+container)
}
