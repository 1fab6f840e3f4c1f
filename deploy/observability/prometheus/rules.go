package prometheus

import (
	"fmt"
	"strings"
	"time"

	"github.com/secure-agent/secure-agent/libs/metricdef"
)

// RunbookBase is the page every alert's runbook_url points into: one
// section per alert, anchored by the alert's name in lower case.
const RunbookBase = "https://github.com/secure-agent/secure-agent/blob/main/docs/runbooks.md"

// RunbookURL is the runbook_url of an alert.
func RunbookURL(alert string) string { return RunbookBase + "#" + strings.ToLower(alert) }

// Severity is an alert's `severity` label.
type Severity string

const (
	Critical Severity = "critical" // someone should act now
	Warning  Severity = "warning"  // someone should look today
	Info     Severity = "info"     // worth knowing, nothing is broken yet
)

// FiresWhen is the phase of the live end-to-end run (a stack of four apps
// and four sidecars scraped by a real Prometheus loaded with the E2E rules)
// in which an alert is expected to reach `firing`, and to resolve after.
type FiresWhen string

const (
	// NeverInE2E: the run never creates the condition.
	NeverInE2E FiresWhen = "never_in_e2e"
	// OnKill: while an app (the extractor) is killed and kept down.
	OnKill FiresWhen = "kill"
	// OnFailure: after a job that fails.
	OnFailure FiresWhen = "failure"
)

// Timings are all that differs between the production rules and the e2e
// ones: every alert's `for` and every range window of an expression are
// capped at MaxFor and MaxWindow when those are set.
type Timings struct {
	Name              string
	MaxFor, MaxWindow time.Duration
}

var (
	// Production keeps every duration as written below.
	Production = Timings{Name: "production"}
	// E2E fits the live test: alerts fire 10 s after their condition and
	// forget an event a minute later. Prometheus must scrape at least every
	// 15 s for one-minute windows to hold two samples.
	E2E = Timings{Name: "e2e", MaxFor: 10 * time.Second, MaxWindow: time.Minute}
)

func (t Timings) capFor(d time.Duration) time.Duration {
	if t.MaxFor > 0 && d > t.MaxFor {
		return t.MaxFor
	}
	return d
}

// w is a range window, "[30m]".
func (t Timings) w(d time.Duration) string {
	if t.MaxWindow > 0 && d > t.MaxWindow {
		d = t.MaxWindow
	}
	return "[" + promDuration(d) + "]"
}

// DefaultSuccessInterval is how long a connection may go without a
// successful job before SecureAgentNoSuccessfulJob fires: a daily job with
// two hours of slack. Override it per connection by recording
// ExpectedSuccessInterval (docs/runbooks.md#secureagentnosuccessfuljob).
const DefaultSuccessInterval = 26 * time.Hour

// Recording rules. Their names carry no window, so that the production and
// e2e files differ only in timings.
const (
	// RecordLastSuccessAge: seconds since the last successful job, by connection.
	RecordLastSuccessAge = "secure_agent:last_success_age:seconds"
	// RecordJobFailureRatio: failed jobs over all ended jobs in the window, by source kind.
	RecordJobFailureRatio = "secure_agent:jobs_failed:ratio"
	// RecordPartitionsInFlight: partitions in flight, over all orchestrators.
	RecordPartitionsInFlight = "secure_agent:partitions_in_flight:sum"
	// ExpectedSuccessInterval is recorded by the operator, not by these
	// rules: one series per connection whose expected interval between
	// successful jobs is not DefaultSuccessInterval, in seconds, labelled
	// `connection` (the chart's prometheusRule.expectedSuccessIntervals
	// renders them).
	ExpectedSuccessInterval = "secure_agent:expected_success_interval:seconds"
)

// Record is a recording rule. Labels are the labels of its series (for the
// expression checks).
type Record struct {
	Name   string
	Expr   string
	Labels []string
}

// Alert is an alerting rule with what the e2e test needs to know about it.
type Alert struct {
	Name        string
	Severity    Severity
	Expr        string
	For         time.Duration
	Summary     string
	Description string
	FiresWhen   FiresWhen
}

// Group is one rule group: its recording rules, evaluated first, then its
// alerts (Prometheus evaluates a group's rules in order, so an alert reads
// the record of the same evaluation).
type Group struct {
	Name    string
	Records []Record
	Alerts  []Alert
}

// Groups returns every rule with the given timings.
func Groups(t Timings) []Group {
	return []Group{availability(t), jobs(t), pipeline(t), controlPlane(t)}
}

// Rules renders Groups as a rule file.
func Rules(t Timings) RuleFile {
	var f RuleFile
	for _, g := range Groups(t) {
		rg := RuleGroup{Name: g.Name}
		for _, r := range g.Records {
			rg.Rules = append(rg.Rules, Rule{Record: r.Name, Expr: r.Expr})
		}
		for _, a := range g.Alerts {
			r := Rule{
				Alert:  a.Name,
				Expr:   a.Expr,
				Labels: map[string]string{"severity": string(a.Severity)},
				Annotations: map[string]string{
					"summary":     a.Summary,
					"description": a.Description,
					"runbook_url": RunbookURL(a.Name),
				},
			}
			if a.For > 0 {
				r.For = promDuration(a.For)
			}
			rg.Rules = append(rg.Rules, r)
		}
		f.Groups = append(f.Groups, rg)
	}
	return f
}

func capitalize(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// lines joins the lines of a multi-line expression.
func lines(l ...string) string { return strings.Join(l, "\n") }

func availability(t Timings) Group {
	// subject names the process in a description: "the {{ $labels.app }} app".
	down := func(name, container, what, subject, impact string) Alert {
		f := t.capFor(5 * time.Minute)
		return Alert{
			Name:     name,
			Severity: Critical,
			Expr: fmt.Sprintf(`%s{%s=~"%s", %s="%s"} == 0`,
				Up, LabelApp, strings.Join(appNames, "|"), LabelContainer, container),
			For:     f,
			Summary: fmt.Sprintf("A secure-agent %s is down.", what),
			Description: fmt.Sprintf("%s at {{ $labels.instance }} has failed every scrape of its metrics for %s: "+
				"the process is gone, restarting or hung. %s", capitalize(subject), promDuration(f), impact),
			FiresWhen: NeverInE2E,
		}
	}
	absent := func(name, container, what, subject string) Alert {
		f := t.capFor(15 * time.Minute)
		var terms []string
		for _, app := range appNames {
			terms = append(terms, fmt.Sprintf(`absent(%s{%s="%s", %s="%s"})`, Up, LabelApp, app, LabelContainer, container))
		}
		return Alert{
			Name:     name,
			Severity: Critical,
			Expr:     strings.Join(terms, "\nor\n"),
			For:      f,
			Summary:  fmt.Sprintf("Prometheus does not scrape a secure-agent %s.", what),
			Description: fmt.Sprintf("Prometheus has had no scrape target for %s "+
				`(no up{app="{{ $labels.app }}", container="{{ $labels.container }}"} series) for %s: it is not `+
				"deployed, or the scrape configuration does not find it or does not set the app and container labels "+
				"these rules expect. No other alert sees it while this lasts.", subject, promDuration(f)),
			FiresWhen: NeverInE2E,
		}
	}
	const (
		theApp     = "the {{ $labels.app }} app"
		theSidecar = "the Dapr sidecar (daprd) of the {{ $labels.app }} app"
	)
	appDown := down("SecureAgentAppDown", ContainerApp, "app", theApp,
		"Jobs that need it wait, its sidecar retries deliveries and the broker redelivers them once it is back.")
	appDown.FiresWhen = OnKill
	return Group{
		Name: "secure-agent.availability",
		Alerts: []Alert{
			appDown,
			down("SecureAgentSidecarDown", ContainerSidecar, "Dapr sidecar (daprd)", theSidecar,
				"Its app can neither receive events nor publish, nor read state, secrets or objects."),
			absent("SecureAgentAppAbsent", ContainerApp, "app", theApp),
			absent("SecureAgentSidecarAbsent", ContainerSidecar, "Dapr sidecar (daprd)", theSidecar),
		},
	}
}

func jobs(t Timings) Group {
	failWindow := t.w(time.Hour)
	stuckWindow := t.w(30 * time.Minute)
	wfWindow := t.w(30 * time.Minute)
	return Group{
		Name: "secure-agent.jobs",
		Records: []Record{
			{
				Name:   RecordLastSuccessAge,
				Expr:   fmt.Sprintf("time() - max by (connection) (%s)", metricdef.LastSuccess.Name),
				Labels: []string{"connection"},
			},
			{
				Name: RecordJobFailureRatio,
				Expr: lines(
					fmt.Sprintf(`sum by (source_kind) (increase(%s{state="failed"}%s))`, metricdef.JobsFinished.Name, failWindow),
					"/",
					fmt.Sprintf(`sum by (source_kind) (increase(%s%s))`, metricdef.JobsFinished.Name, failWindow)),
				Labels: []string{"source_kind"},
			},
			{
				Name: RecordPartitionsInFlight,
				Expr: fmt.Sprintf("sum(%s)", metricdef.PartitionsInFlight.Name),
			},
		},
		Alerts: []Alert{
			{
				Name:     "SecureAgentNoSuccessfulJob",
				Severity: Warning,
				Expr: lines(
					RecordLastSuccessAge,
					"  > on (connection)",
					"  (",
					fmt.Sprintf("      max by (connection) (%s)", ExpectedSuccessInterval),
					"    or on (connection)",
					fmt.Sprintf("      %s * 0 + %d", RecordLastSuccessAge, int64(DefaultSuccessInterval/time.Second)),
					"  )"),
				For:     t.capFor(5 * time.Minute),
				Summary: "A connection has had no successful job for longer than expected.",
				Description: "The last successful job of connection {{ $labels.connection }} ended {{ $value | humanizeDuration }} ago, " +
					fmt.Sprintf("longer than its expected interval (%s, unless %s sets another for it): ", promDuration(DefaultSuccessInterval), ExpectedSuccessInterval) +
					"its jobs fail, are not submitted, or do not finish.",
				FiresWhen: NeverInE2E,
			},
			{
				Name:     "SecureAgentJobFailureRatioHigh",
				Severity: Warning,
				Expr:     RecordJobFailureRatio + " > 0.25",
				For:      t.capFor(5 * time.Minute),
				Summary:  "Many secure-agent jobs fail.",
				Description: fmt.Sprintf("{{ $value | humanizePercentage }} of the {{ $labels.source_kind }} jobs that ended in the last %s "+
					"failed (more than 25%%).", strings.Trim(failWindow, "[]")),
				FiresWhen: OnFailure,
			},
			{
				Name:     "SecureAgentJobStuck",
				Severity: Warning,
				Expr: lines(
					fmt.Sprintf("min_over_time(%s%s) > 0", RecordPartitionsInFlight, stuckWindow),
					"unless on ()",
					"(",
					fmt.Sprintf("    sum(increase(%s%s)) > 0", metricdef.PublisherPartitions.Name, stuckWindow),
					"  or",
					fmt.Sprintf("    sum(increase(%s%s)) > 0", metricdef.PartitionRetries.Name, stuckWindow),
					")"),
				For:     t.capFor(5 * time.Minute),
				Summary: "A secure-agent job makes no progress.",
				Description: fmt.Sprintf("At least {{ $value }} partitions have been in flight for %s and in that time no partition "+
					"was published, failed or retried: the extractors or the publisher do not answer, and the "+
					"orchestrator's partition deadlines have not fired either.", strings.Trim(stuckWindow, "[]")),
				FiresWhen: NeverInE2E,
			},
			{
				Name:     "SecureAgentWorkflowFailed",
				Severity: Warning,
				Expr: fmt.Sprintf(`sum by (app_id, workflow_name) (increase(%s{status="failed"}%s)) > 0`,
					DaprWorkflowExecutions.Name, wfWindow),
				Summary: "A job workflow failed in the Dapr workflow engine.",
				Description: fmt.Sprintf("{{ $value | humanize }} executions of workflow {{ $labels.workflow_name }} on the sidecar of "+
					"{{ $labels.app_id }} ended failed in the last %s. A failing job does not fail its workflow (the "+
					"workflow ends with the job's state), so this is a panic in the workflow code, a workflow "+
					"terminated from outside, or an engine error.", strings.Trim(wfWindow, "[]")),
				FiresWhen: NeverInE2E,
			},
		},
	}
}

func pipeline(t Timings) Group {
	stallWindow := t.w(15 * time.Minute)
	dlWindow := t.w(10 * time.Minute)
	secretWindow := t.w(10 * time.Minute)
	pendingFor := t.capFor(15 * time.Minute)
	return Group{
		Name: "secure-agent.pipeline",
		Alerts: []Alert{
			{
				Name:     "SecureAgentPipelineStalled",
				Severity: Warning,
				Expr: lines(
					fmt.Sprintf("sum(increase(%s%s)) > 0", metricdef.BatchesAnnounced.Name, stallWindow),
					"unless on ()",
					fmt.Sprintf("sum(increase(%s%s)) > 0", metricdef.PublisherBatchesPublished.Name, stallWindow)),
				For:     t.capFor(10 * time.Minute),
				Summary: "Extractors announce batches and the publisher publishes none.",
				Description: fmt.Sprintf("The extractors announced {{ $value | humanize }} staged batches in the last %s and the "+
					"publisher published none: it is down, cannot read staging or write a destination, or does not "+
					"receive the batch-ready events.", strings.Trim(stallWindow, "[]")),
				FiresWhen: NeverInE2E,
			},
			{
				Name:     "SecureAgentDeadLettersPending",
				Severity: Warning,
				Expr:     fmt.Sprintf("max(%s) > 0", metricdef.DeadLettersPending.Name),
				For:      pendingFor,
				Summary:  "Dead-lettered events wait for an operator.",
				Description: fmt.Sprintf("Health has kept {{ $value }} dead-lettered events for more than %s; the agent reports "+
					"itself degraded until they are replayed or discarded (agentctl deadletters).", promDuration(pendingFor)),
				FiresWhen: NeverInE2E,
			},
			{
				Name:     "SecureAgentEventsDeadLettered",
				Severity: Warning,
				Expr: fmt.Sprintf("sum by (app, topic) (increase(%s%s)) > 0",
					metricdef.DeadLettered.Name, dlWindow),
				Summary: "An app refused events for good and dead-lettered them.",
				Description: fmt.Sprintf("{{ $labels.app }} dead-lettered {{ $value | humanize }} events of topic {{ $labels.topic }} "+
					"in the last %s: they did not decode or named a job it does not know.", strings.Trim(dlWindow, "[]")),
				FiresWhen: NeverInE2E,
			},
			{
				Name:     "SecureAgentSecretStoreErrors",
				Severity: Warning,
				Expr: fmt.Sprintf(`sum by (app, store, result) (increase(%s{result=~"error|denied"}%s)) > 0`,
					metricdef.SecretReads.Name, secretWindow),
				Summary: "Reads from a secret store fail.",
				Description: fmt.Sprintf("{{ $labels.app }} had {{ $value | humanize }} secret reads from store {{ $labels.store }} "+
					"end with {{ $labels.result }} in the last %s: jobs that need those secrets, or the control-plane "+
					"credentials, fail.", strings.Trim(secretWindow, "[]")),
				FiresWhen: NeverInE2E,
			},
		},
	}
}

func controlPlane(t Timings) Group {
	authWindow := t.w(10 * time.Minute)
	authFor := t.capFor(15 * time.Minute)
	leaseWindow := t.w(30 * time.Minute)
	hbWindow := t.w(10 * time.Minute)
	logWindow := t.w(15 * time.Minute)
	return Group{
		Name: "secure-agent.controlplane",
		Alerts: []Alert{
			{
				Name:     "SecureAgentControlPlaneAuthFailing",
				Severity: Critical,
				Expr: fmt.Sprintf("sum by (app, reason) (increase(%s%s)) > 0",
					metricdef.CPAuthFailures.Name, authWindow),
				For:     authFor,
				Summary: "The agent cannot authenticate to the control plane.",
				Description: fmt.Sprintf("{{ $labels.app }} has failed to authenticate to the control plane ({{ $labels.reason }}) "+
					"again and again for %s: no job is leased, reported or uploaded until the client credentials work.",
					promDuration(authFor)),
				FiresWhen: NeverInE2E,
			},
			{
				Name:     "SecureAgentControlPlaneLeaseLost",
				Severity: Warning,
				Expr: fmt.Sprintf(`sum by (app) (increase(%s{event="lost"}%s)) > 0`,
					metricdef.CPLeases.Name, leaseWindow),
				Summary: "The control plane took back job leases.",
				Description: fmt.Sprintf("{{ $labels.app }} lost {{ $value | humanize }} job leases in the last %s: the control plane "+
					"gave those jobs to someone else or their leases expired before a renewal, and they were cancelled here.",
					strings.Trim(leaseWindow, "[]")),
				FiresWhen: NeverInE2E,
			},
			{
				Name:     "SecureAgentHeartbeatsFailing",
				Severity: Warning,
				Expr: lines(
					fmt.Sprintf(`sum by (app) (increase(%s{result="error"}%s))`, metricdef.Heartbeats.Name, hbWindow),
					"/",
					fmt.Sprintf(`sum by (app) (increase(%s%s))`, metricdef.Heartbeats.Name, hbWindow),
					"> 0.5"),
				For:     t.capFor(10 * time.Minute),
				Summary: "Heartbeats to the control plane fail.",
				Description: fmt.Sprintf("{{ $value | humanizePercentage }} of the heartbeats {{ $labels.app }} sent in the last %s "+
					"failed: the control plane may show the agent as offline.", strings.Trim(hbWindow, "[]")),
				FiresWhen: NeverInE2E,
			},
			{
				Name:     "SecureAgentJobLogLinesDropped",
				Severity: Info,
				Expr: lines(
					fmt.Sprintf("sum by (app, reason) (increase(%s%s)) > 0", metricdef.JobLogLinesDropped.Name, logWindow),
					"or",
					fmt.Sprintf("sum by (app, reason) (increase(%s%s)) > 0", metricdef.LogUploadDropped.Name, logWindow)),
				Summary: "Job log lines were dropped on their way to the control plane.",
				Description: fmt.Sprintf("{{ $labels.app }} dropped {{ $value | humanize }} job log lines ({{ $labels.reason }}) in "+
					"the last %s; the jobs are not affected, their logs on the control plane are incomplete.",
					strings.Trim(logWindow, "[]")),
				FiresWhen: NeverInE2E,
			},
		},
	}
}
