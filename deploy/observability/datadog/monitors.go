package datadog

import (
	"fmt"
	"strings"

	"github.com/DataDog/datadog-api-client-go/v2/api/datadogV1"

	m "github.com/secure-agent/secure-agent/libs/metricdef"

	"github.com/secure-agent/secure-agent/deploy/observability/prometheus"
)

// monitorSpec is the Datadog translation of one Prometheus alert: the
// alert (name, severity, summary, runbook) comes from the prometheus
// package, the query and the text from here.
type monitorSpec struct {
	alert string
	typ   datadogV1.MonitorType
	query string
	// critical is the threshold the query compares with (a metric alert),
	// or the number of consecutive CRITICAL statuses (a service check).
	critical float64
	// noData alerts when the query has had no data for noDataMinutes.
	noData        bool
	noDataMinutes int64
	// summary replaces the rule's summary where that names Prometheus.
	summary string
	// text says what fired, in Datadog's template variables ({{app.name}}
	// for a monitor grouped by app, {{value}}), and how the query differs
	// from the Prometheus rule where it must.
	text string
}

// The service-check monitors need this many consecutive CRITICAL runs:
// about five minutes at the Agent's default 15 s check interval, the `for`
// of the Prometheus rules.
const downRuns = 20

// ExpectedApps is how many apps (Dapr app ids) a release runs.
var ExpectedApps = len(m.AllApps)

func monitorSpecs() []monitorSpec {
	down := func(c Check) string {
		return fmt.Sprintf(`"%s".over("%s:%s").by("%s").last(%d).count_by_status()`,
			c.HealthCheck(), TagContainer, c.Container, TagApp, downRuns+1)
	}
	all := "{*}"
	in := func(filters ...string) string { return "{" + strings.Join(filters, ",") + "}" }
	return []monitorSpec{
		{alert: "SecureAgentAppDown", typ: datadogV1.MONITORTYPE_SERVICE_CHECK, query: down(AppCheck), critical: downRuns,
			text: "The OpenMetrics check of the {{app.name}} app has failed every scrape of its /metrics for about five minutes " +
				"(" + AppCheck.HealthCheck() + " CRITICAL): the process is gone, restarting or hung. Jobs that need it wait; " +
				"its sidecar retries deliveries and the broker redelivers them once it is back."},
		{alert: "SecureAgentSidecarDown", typ: datadogV1.MONITORTYPE_SERVICE_CHECK, query: down(DaprCheck), critical: downRuns,
			text: "The OpenMetrics check of the Dapr sidecar (daprd) of the {{app.name}} app has failed every scrape of its metrics " +
				"port for about five minutes (" + DaprCheck.HealthCheck() + " CRITICAL). Its app can neither receive events nor " +
				"publish, nor read state, secrets or objects."},
		{alert: "SecureAgentAppAbsent", typ: datadogV1.MONITORTYPE_QUERY_ALERT,
			query:    fmt.Sprintf("max(last_15m):count_not_null(max:%s%s by {%s}) < %d", app(m.BuildInfo), in(TagContainer+":"+ContainerApp), TagApp, ExpectedApps),
			critical: float64(ExpectedApps), noData: true, noDataMinutes: 30,
			summary: "Datadog does not receive the metrics of a secure-agent app.",
			text: fmt.Sprintf("Only {{value}} of the %d apps have reported %s in the last 15 minutes: an app is not deployed, "+
				"or no OpenMetrics check scrapes its /metrics (in Kubernetes: the chart's datadog.enabled, and metrics.port open to "+
				"the Agent's namespace, docs/observability.md#datadog), or its check lacks the %s and %s tags. No other monitor sees that app "+
				"while this lasts.", ExpectedApps, app(m.BuildInfo), TagApp, TagContainer)},
		{alert: "SecureAgentSidecarAbsent", typ: datadogV1.MONITORTYPE_QUERY_ALERT,
			query:    fmt.Sprintf("max(last_15m):count_not_null(sum:%s%s by {%s}.as_count()) < %d", dapr(daprComponentLoaded), in(TagContainer+":"+ContainerSidecar), TagApp, ExpectedApps),
			critical: float64(ExpectedApps), noData: true, noDataMinutes: 30,
			summary: "Datadog does not receive the metrics of a secure-agent Dapr sidecar (daprd).",
			text: fmt.Sprintf("Only {{value}} of the %d apps' Dapr sidecars have reported %s in the last 15 minutes: a sidecar "+
				"was not injected, or no OpenMetrics check scrapes its metrics port.", ExpectedApps, dapr(daprComponentLoaded))},
		{alert: "SecureAgentNoSuccessfulJob", typ: datadogV1.MONITORTYPE_QUERY_ALERT,
			query:    fmt.Sprintf("min(last_5m):max:%s%s by {connection} > %d", app(m.LastSuccess), all, int64(prometheus.DefaultSuccessInterval.Seconds())),
			critical: prometheus.DefaultSuccessInterval.Seconds(),
			text: "The last successful job of connection {{connection.name}} ended {{value}} seconds ago, longer than the expected " +
				fmt.Sprintf("interval (%s): its jobs fail, are not submitted, or do not finish. For a connection that runs less often, ", prometheus.DefaultSuccessInterval) +
				"clone this monitor with a longer threshold scoped to it and exclude it here (!connection:<name>)."},
		{alert: "SecureAgentJobFailureRatioHigh", typ: datadogV1.MONITORTYPE_QUERY_ALERT,
			query: fmt.Sprintf("sum(last_1h):sum:%s%s by {source_kind}.as_count() / sum:%s%s by {source_kind}.as_count() > 0.25",
				app(m.JobsFinished), in("state:failed"), app(m.JobsFinished), all),
			critical: 0.25,
			text:     "A fraction of {{value}} of the {{source_kind.name}} jobs that ended in the last hour failed (more than 25%)."},
		{alert: "SecureAgentJobStuck", typ: datadogV1.MONITORTYPE_QUERY_ALERT,
			// Per point: partitions in flight, minus a large number where a
			// partition was published or retried; its minimum over 30 minutes
			// stays above 0 only if partitions were in flight all along and
			// none moved (as_rate: arithmetic before the time aggregation).
			query: fmt.Sprintf("min(last_30m):sum:%s%s - 1000000 * (sum:%s%s.as_rate() + sum:%s%s.as_rate()) > 0",
				app(m.PartitionsInFlight), all, app(m.PublisherPartitions), all, app(m.PartitionRetries), all),
			critical: 0,
			text: "Partitions have been in flight for 30 minutes and in that time no partition was published, failed or retried: " +
				"the extractors or the publisher do not answer, and the orchestrator's partition deadlines have not fired either."},
		{alert: "SecureAgentWorkflowFailed", typ: datadogV1.MONITORTYPE_QUERY_ALERT,
			query: fmt.Sprintf("sum(last_30m):sum:%s%s by {%s,workflow_name}.as_count() > 0",
				dapr(daprWorkflowExecCount), in("status:failed"), TagApp),
			critical: 0,
			text: "{{value}} executions of workflow {{workflow_name.name}} on the sidecar of {{app.name}} ended failed in the last " +
				"30 minutes. A failing job does not fail its workflow (the workflow ends with the job's state), so this is a panic " +
				"in the workflow code, a workflow terminated from outside, or an engine error."},
		{alert: "SecureAgentPipelineStalled", typ: datadogV1.MONITORTYPE_QUERY_ALERT,
			// as_count: each query is summed over the window first, so this
			// is "announced > 0 and published = 0" (announced < 1e6).
			query: fmt.Sprintf("sum(last_15m):sum:%s%s.as_count() - 1000000 * sum:%s%s.as_count() > 0",
				app(m.BatchesAnnounced), all, app(m.PublisherBatchesPublished), all),
			critical: 0,
			text: "The extractors announced {{value}} staged batches in the last 15 minutes and the publisher published none: it " +
				"is down, cannot read staging or write a destination, or does not receive the batch-ready events."},
		{alert: "SecureAgentDeadLettersPending", typ: datadogV1.MONITORTYPE_QUERY_ALERT,
			query:    fmt.Sprintf("min(last_15m):max:%s%s > 0", app(m.DeadLettersPending), all),
			critical: 0,
			text: "Health has kept {{value}} dead-lettered events for more than 15 minutes; the agent reports itself degraded " +
				"until they are replayed or discarded (agentctl deadletters)."},
		{alert: "SecureAgentEventsDeadLettered", typ: datadogV1.MONITORTYPE_QUERY_ALERT,
			query:    fmt.Sprintf("sum(last_10m):sum:%s%s by {%s,topic}.as_count() > 0", app(m.DeadLettered), all, TagApp),
			critical: 0,
			text: "{{app.name}} dead-lettered {{value}} events of topic {{topic.name}} in the last 10 minutes: they did not " +
				"decode or named a job it does not know."},
		{alert: "SecureAgentSecretStoreErrors", typ: datadogV1.MONITORTYPE_QUERY_ALERT,
			query: fmt.Sprintf("sum(last_10m):sum:%s{result:error OR result:denied} by {%s,store,result}.as_count() > 0",
				app(m.SecretReads), TagApp),
			critical: 0,
			text: "{{app.name}} had {{value}} secret reads from store {{store.name}} end with {{result.name}} in the last 10 " +
				"minutes: jobs that need those secrets, or the control-plane credentials, fail."},
		{alert: "SecureAgentControlPlaneAuthFailing", typ: datadogV1.MONITORTYPE_QUERY_ALERT,
			// The failures of the trailing 10 minutes, above 0 for 15 minutes.
			query: fmt.Sprintf("min(last_15m):moving_rollup(sum:%s%s by {%s,reason}.as_count(), 600, 'sum') > 0",
				app(m.CPAuthFailures), all, TagApp),
			critical: 0,
			text: "{{app.name}} has failed to authenticate to the control plane ({{reason.name}}) again and again for 15 minutes: " +
				"no job is leased, reported or uploaded until the client credentials work."},
		{alert: "SecureAgentControlPlaneLeaseLost", typ: datadogV1.MONITORTYPE_QUERY_ALERT,
			query:    fmt.Sprintf("sum(last_30m):sum:%s%s by {%s}.as_count() > 0", app(m.CPLeases), in("event:lost"), TagApp),
			critical: 0,
			text: "{{app.name}} lost {{value}} job leases in the last 30 minutes: the control plane gave those jobs to someone " +
				"else or their leases expired before a renewal, and they were cancelled here."},
		{alert: "SecureAgentHeartbeatsFailing", typ: datadogV1.MONITORTYPE_QUERY_ALERT,
			// Failed over sent heartbeats of the trailing 10 minutes, above
			// one half for 10 minutes (as_rate: per point, then the minimum).
			query: fmt.Sprintf("min(last_10m):moving_rollup(sum:%s%s by {%s}.as_rate(), 600, 'avg') / moving_rollup(sum:%s%s by {%s}.as_rate(), 600, 'avg') > 0.5",
				app(m.Heartbeats), in("result:error"), TagApp, app(m.Heartbeats), all, TagApp),
			critical: 0.5,
			text: "A fraction of {{value}} of the heartbeats {{app.name}} sent in the last 10 minutes failed: the control plane " +
				"may show the agent as offline."},
		{alert: "SecureAgentJobLogLinesDropped", typ: datadogV1.MONITORTYPE_QUERY_ALERT,
			// Not grouped: the two counters come from different apps, and
			// Datadog's arithmetic only joins series of the same group.
			query: fmt.Sprintf("sum(last_15m):sum:%s%s.as_count() + sum:%s%s.as_count() > 0",
				app(m.JobLogLinesDropped), all, app(m.LogUploadDropped), all),
			critical: 0,
			text: "{{value}} job log lines were dropped in the last 15 minutes on their way to the control plane (by the " +
				"services' buffers or by health's upload); the jobs are not affected, their logs on the control plane are " +
				"incomplete. The dashboard's Control-plane link · Job logs group shows which app and why."},
	}
}

// priority maps a severity to Datadog's monitor priority (1 highest).
func priority(s prometheus.Severity) int64 {
	switch s {
	case prometheus.Critical:
		return 1
	case prometheus.Warning:
		return 3
	default:
		return 5
	}
}

// Monitors builds one monitor per Prometheus alert rule, in the rules' order.
func Monitors() ([]datadogV1.Monitor, error) {
	specs := map[string]monitorSpec{}
	for _, s := range monitorSpecs() {
		if _, dup := specs[s.alert]; dup {
			return nil, fmt.Errorf("two monitors for alert %s", s.alert)
		}
		specs[s.alert] = s
	}
	var out []datadogV1.Monitor
	for _, g := range prometheus.Groups(prometheus.Production) {
		for _, a := range g.Alerts {
			s, ok := specs[a.Name]
			if !ok {
				return nil, fmt.Errorf("alert %s has no Datadog monitor", a.Name)
			}
			delete(specs, a.Name)
			out = append(out, s.monitor(a))
		}
	}
	for name := range specs {
		return nil, fmt.Errorf("monitor %s translates no Prometheus alert", name)
	}
	return out, nil
}

func (s monitorSpec) monitor(a prometheus.Alert) datadogV1.Monitor {
	// Struct literals, not the client's constructors: those fill in
	// defaults (draft status, host delays) that are no part of the rule.
	mon := datadogV1.Monitor{Query: s.query, Type: s.typ}
	summary := a.Summary
	if s.summary != "" {
		summary = s.summary
	}
	mon.SetName(a.Name)
	mon.SetMessage(fmt.Sprintf("{{#is_alert}}%s{{/is_alert}}{{#is_recovery}}Recovered: %s{{/is_recovery}}\n\n%s\n\nRunbook: %s",
		summary, summary, s.text, prometheus.RunbookURL(a.Name)))
	mon.SetTags([]string{Tag, "severity:" + string(a.Severity), "alert:" + a.Name})
	mon.SetPriority(priority(a.Severity))

	o := &datadogV1.MonitorOptions{}
	o.SetIncludeTags(true)
	o.SetNotifyNoData(s.noData)
	if s.noData {
		o.SetNoDataTimeframe(s.noDataMinutes)
	}
	th := &datadogV1.MonitorThresholds{}
	th.SetCritical(s.critical)
	if s.typ == datadogV1.MONITORTYPE_SERVICE_CHECK {
		th.SetOk(1)
	} else {
		// Counts of rare events leave gaps: evaluate what the window holds.
		o.SetRequireFullWindow(false)
	}
	o.SetThresholds(*th)
	mon.SetOptions(*o)
	return mon
}

// MonitorsJSON is monitors.json: indented, with a final newline.
func MonitorsJSON() ([]byte, error) {
	ms, err := Monitors()
	if err != nil {
		return nil, err
	}
	return indentJSON(ms)
}
