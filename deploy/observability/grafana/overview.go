package grafana

import (
	"github.com/grafana/grafana-foundation-sdk/go/units"

	m "github.com/secure-agent/secure-agent/libs/metricdef"
)

func overview() boardSpec {
	return boardSpec{
		name:  "overview",
		uid:   "secure-agent-overview",
		title: "secure-agent / Overview",
		description: "Is every app and sidecar up, do jobs run and succeed, and how long since each connection's " +
			"last successful job.",
		rows: []rowSpec{
			{title: "Health", panels: []panelSpec{
				{kind: statPanel, title: "Apps up", unit: units.NoUnit, width: 6, upDown: true,
					description: "Whether Prometheus scrapes each app's /metrics (the `up` series of targets with container=\"app\"). DOWN: the app is not running or not reachable.",
					targets:     []target{{expr: sel("up", `container="app"`), legend: "{{app}}", when: Always, instant: true}}},
				{kind: statPanel, title: "Sidecars up", unit: units.NoUnit, width: 6, upDown: true,
					description: "Whether Prometheus scrapes each Dapr sidecar's metrics port (targets with container=\"daprd\").",
					targets:     []target{{expr: sel("up", `container="daprd"`), legend: "{{app}}", when: Always, instant: true}}},
				{kind: statPanel, title: "Targets down", unit: units.NoUnit, width: 4, noValue: "none",
					description: "Apps and sidecars whose scrape fails now; empty when all are up.",
					targets:     []target{{expr: sel("up") + " == 0", legend: "{{app}} {{container}}", when: Kill, instant: true}}},
				{kind: tablePanel, title: "Versions", unit: units.NoUnit, width: 8,
					description: "The running version of each app and the Go release that built it (" + m.BuildInfo.Name + ").",
					targets: []target{{expr: "max by (app, service, version, goversion) (" + sel(m.BuildInfo.Name) + ")",
						when: Always}}},
			}},
			{title: "Jobs", panels: []panelSpec{
				{kind: timeseriesPanel, title: "Jobs started", unit: units.Short,
					description: "Jobs whose workflow started in each interval, by source kind.",
					targets: []target{{expr: sumBy("source_kind", increase(m.JobsStarted.Name)),
						legend: "{{source_kind}}", when: Always}}},
				{kind: timeseriesPanel, title: "Jobs finished", unit: units.Short,
					description: "Jobs that reached a final state in each interval: succeeded, failed or cancelled.",
					targets: []target{{expr: sumBy("state", increase(m.JobsFinished.Name)),
						legend: "{{state}}", when: Always}}},
				{kind: timeseriesPanel, title: "Job success ratio", unit: units.PercentUnit,
					description: "Succeeded jobs over all finished jobs in each interval (no value when none finished).",
					targets: []target{{expr: sumBy("", increase(m.JobsFinished.Name, `state="succeeded"`)) + " / " +
						sumBy("", increase(m.JobsFinished.Name)), legend: "success ratio", when: Always}}},
				{kind: timeseriesPanel, title: "Failed jobs", unit: units.Short,
					description: "Jobs that failed in each interval, by source kind. `agentctl jobs show` says why.",
					targets: []target{{expr: sumBy("source_kind", increase(m.JobsFinished.Name, `state="failed"`)),
						legend: "{{source_kind}}", when: Failure}}},
				{kind: timeseriesPanel, title: "Job duration", unit: units.Seconds,
					description: "Median and 95th percentile of job duration, from workflow start to final state, by final state.",
					targets:     p50p95(m.JobDuration.Name, "state", "{{state}}", Always)},
				{kind: timeseriesPanel, title: "Schedule fires", unit: units.Short,
					description: "Fires of job schedules in each interval, by outcome: started a job; skipped because a run of the " +
						"connection was still going; failed to submit (the scheduler delivers it again). `agentctl schedules` lists them.",
					targets: []target{{expr: sumBy("outcome", increase(m.ScheduleFires.Name)),
						legend: "{{outcome}}", when: Always}}},
				{kind: timeseriesPanel, title: "Time since last success", unit: units.DurationSeconds,
					description: "Time since the last job of each connection succeeded. Compare it with how often the connection is meant to run.",
					targets: []target{{expr: "time() - max by (connection) (" + sel(m.LastSuccess.Name) + ")",
						legend: "{{connection}}", when: Always}}},
			}},
			{title: "HTTP API", panels: []panelSpec{
				{kind: timeseriesPanel, title: "HTTP requests", unit: units.RequestsPerSecond, width: 12,
					description: "Requests each app served per second (its sidecar's calls, the job API, health's status), by status code.",
					targets: []target{{expr: sumBy("app, code", rate(m.HTTPRequestDuration.Name+"_count")),
						legend: "{{app}} {{code}}", when: Always}}},
				{kind: timeseriesPanel, title: "HTTP latency", unit: units.Seconds, width: 12,
					description: "95th percentile of the time each app took to answer, by route template.",
					targets: []target{{expr: quantile("0.95", m.HTTPRequestDuration.Name, "app, route"),
						legend: "{{app}} {{route}} p95", when: Always}}},
			}},
			{title: "Backlog", panels: []panelSpec{
				{kind: timeseriesPanel, title: "Partitions in flight", unit: units.Short,
					description: "Partitions requested from the extractors and not yet published or given up.",
					targets:     []target{{expr: sumBy("", sel(m.PartitionsInFlight.Name)), legend: "in flight", when: Always}}},
				{kind: timeseriesPanel, title: "Publisher backlog", unit: units.Short,
					description: "Batches verified by the publisher whose partition is not yet published (announced but not yet published).",
					targets:     []target{{expr: sumBy("", sel(m.PublisherBacklog.Name)), legend: "backlog", when: Always}}},
				{kind: timeseriesPanel, title: "Dead letters pending", unit: units.Short,
					description: "Events an app refused, kept by health until replayed or discarded (`agentctl deadletters`).",
					targets:     []target{{expr: sumBy("", sel(m.DeadLettersPending.Name)), legend: "pending", when: Always}}},
			}},
		},
	}
}
