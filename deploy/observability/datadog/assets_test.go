package datadog

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/DataDog/datadog-api-client-go/v2/api/datadogV1"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/deploy/observability/prometheus"
)

// dashQuery is one metric query of the dashboard, where it is.
type dashQuery struct {
	where string
	query string
}

// widgetChecks lists every problem of one non-group widget: a title and a
// description; for metric widgets, named metric queries that every formula
// uses, each formula with a unit; the service check of a check-status
// widget. It returns the widget's metric queries.
func widgetChecks(where string, def datadogV1.WidgetDefinition) ([]dashQuery, []error) {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(where+": "+format, args...)) }
	type request struct {
		queries  []datadogV1.FormulaAndFunctionQueryDefinition
		formulas []datadogV1.WidgetFormula
	}
	var title, description *string
	var reqs []request
	needsUnit := true
	switch {
	case def.TimeseriesWidgetDefinition != nil:
		w := def.TimeseriesWidgetDefinition
		title, description = w.Title, w.Description
		for _, r := range w.Requests {
			reqs = append(reqs, request{r.Queries, r.Formulas})
			if r.Q != nil {
				fail("a request uses the deprecated q; use queries and formulas")
			}
		}
	case def.QueryValueWidgetDefinition != nil:
		w := def.QueryValueWidgetDefinition
		title, description = w.Title, w.Description
		for _, r := range w.Requests {
			reqs = append(reqs, request{r.Queries, r.Formulas})
		}
	case def.TableWidgetDefinition != nil:
		w := def.TableWidgetDefinition
		title, description = w.Title, w.Description
		needsUnit = false // a table of labels (the versions)
		for _, r := range w.Requests {
			reqs = append(reqs, request{r.Queries, r.Formulas})
		}
	case def.CheckStatusWidgetDefinition != nil:
		w := def.CheckStatusWidgetDefinition
		title, description = w.Title, w.Description
		known := false
		for _, c := range Checks() {
			if w.Check == c.HealthCheck() {
				known = true
				if !contains(w.Tags, TagContainer+":"+c.Container) {
					fail("check %s without the tag %s:%s", w.Check, TagContainer, c.Container)
				}
			}
		}
		if !known {
			fail("no check sends service check %q", w.Check)
		}
		for _, v := range dashScope {
			if !contains(w.Tags, v) {
				fail("check status without template variable %s", v)
			}
		}
	case def.MonitorSummaryWidgetDefinition != nil:
		w := def.MonitorSummaryWidgetDefinition
		title, description = w.Title, w.Description
		if w.Query != "tag:"+Tag {
			fail("monitor summary of %q, not the monitors' tag %s", w.Query, Tag)
		}
	default:
		fail("a widget type this dashboard does not use")
	}
	if title == nil || *title == "" {
		fail("no title")
	}
	if description == nil || *description == "" {
		fail("no description")
	}
	var out []dashQuery
	for _, r := range reqs {
		names := map[string]bool{}
		for _, q := range r.queries {
			mq := q.FormulaAndFunctionMetricQueryDefinition
			if mq == nil {
				fail("a query that is not a metric query")
				continue
			}
			names[mq.Name] = true
			out = append(out, dashQuery{where: where, query: mq.Query})
		}
		used := map[string]bool{}
		for _, f := range r.formulas {
			for _, id := range regexp.MustCompile(`[a-z_][a-z0-9_]*`).FindAllString(f.Formula, -1) {
				if !names[id] {
					fail("formula %q uses %s, which no query of the request is named", f.Formula, id)
				}
				used[id] = true
			}
			if f.NumberFormat == nil || f.NumberFormat.Unit == nil || f.NumberFormat.Unit.NumberFormatUnitCanonical == nil {
				if needsUnit {
					fail("formula %q has no unit", f.Formula)
				}
			} else if u := f.NumberFormat.Unit.NumberFormatUnitCanonical; !contains(Units(), u.GetUnitName()) ||
				(u.PerUnitName != nil && !contains(Units(), *u.PerUnitName)) {
				fail("formula %q: unit %s/%s is not one of %v", f.Formula, u.GetUnitName(), u.GetPerUnitName(), Units())
			}
		}
		for n := range names {
			if !used[n] {
				fail("query %s is in no formula", n)
			}
		}
		if len(r.formulas) == 0 {
			fail("a request without formulas")
		}
	}
	return out, errs
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// dashboardQueries checks every widget of d and returns its queries.
func dashboardQueries(d datadogV1.Dashboard) ([]dashQuery, []error) {
	var out []dashQuery
	var errs []error
	titles := map[string]bool{}
	for _, g := range d.Widgets {
		gd := g.Definition.GroupWidgetDefinition
		if gd == nil {
			errs = append(errs, errors.New("a top-level widget that is not a group"))
			continue
		}
		group := gd.GetTitle()
		for _, w := range gd.Widgets {
			if w.Definition.GroupWidgetDefinition != nil {
				errs = append(errs, fmt.Errorf("%s: a group in a group", group))
				continue
			}
			where := group + " / " + widgetTitle(w.Definition)
			if titles[where] {
				errs = append(errs, fmt.Errorf("%s: two widgets of one name", where))
			}
			titles[where] = true
			if w.Layout == nil || w.Layout.X+w.Layout.Width > 12 {
				errs = append(errs, fmt.Errorf("%s: no layout, or wider than the group", where))
			}
			qs, es := widgetChecks(where, w.Definition)
			out = append(out, qs...)
			errs = append(errs, es...)
		}
	}
	return out, errs
}

func widgetTitle(def datadogV1.WidgetDefinition) string {
	switch {
	case def.TimeseriesWidgetDefinition != nil:
		return def.TimeseriesWidgetDefinition.GetTitle()
	case def.QueryValueWidgetDefinition != nil:
		return def.QueryValueWidgetDefinition.GetTitle()
	case def.TableWidgetDefinition != nil:
		return def.TableWidgetDefinition.GetTitle()
	case def.CheckStatusWidgetDefinition != nil:
		return def.CheckStatusWidgetDefinition.GetTitle()
	case def.MonitorSummaryWidgetDefinition != nil:
		return def.MonitorSummaryWidgetDefinition.GetTitle()
	}
	return "?"
}

// dashVars are the dashboard's template variables by name, checked to
// filter on the tag of their name.
func dashVars(t *testing.T, d datadogV1.Dashboard) map[string]bool {
	vars := map[string]bool{}
	for _, v := range d.TemplateVariables {
		require.Equal(t, v.Name, v.GetPrefix(), "template variable %s filters on tag %s", v.Name, v.GetPrefix())
		vars[v.Name] = true
	}
	return vars
}

// Every widget is complete and every query names a metric (and tags) that
// the checks submit, the way they submit it.
func TestDashboardQueriesSelectExportedMetrics(t *testing.T) {
	c := loadCatalogue(t)
	raw, err := os.ReadFile("dashboard.json")
	require.NoError(t, err)
	d, err := decodeDashboard(raw)
	require.NoError(t, err)
	qs, errs := dashboardQueries(d)
	require.NotEmpty(t, qs)
	ctx := exprCheck{vars: dashVars(t, d), requireVars: true}
	for _, q := range qs {
		if _, es := c.checkExpr(q.query, ctx); len(es) > 0 {
			for _, e := range es {
				errs = append(errs, fmt.Errorf("%s: %w", q.where, e))
			}
		}
	}
	require.NoError(t, errors.Join(errs...))
}

// Each of the five Grafana dashboards has its section, and each Grafana
// row its group (the Datadog dashboard is their equivalent).
func TestDashboardCoversTheGrafanaRows(t *testing.T) {
	want := map[string][]string{
		"Overview":           {"Health", "Jobs", "HTTP API", "Backlog"},
		"Pipeline":           {"Latency", "Partitions", "Throughput", "Publisher", "Object stores", "Pub/sub and dead letters"},
		"Sources":            {"Statements", "Connections", "Secrets"},
		"Control-plane link": {"Requests", "Authentication", "Leases and heartbeats", "Job logs"},
		"Dapr sidecars":      {"Sidecars", "Pub/sub", "Service invocation", "APIs", "Workflows", "Components"},
	}
	d, err := Dashboard()
	require.NoError(t, err)
	var got []string
	for _, w := range d.Widgets {
		got = append(got, w.Definition.GroupWidgetDefinition.GetTitle())
	}
	var wantTitles []string
	for _, s := range []string{"Overview", "Pipeline", "Sources", "Control-plane link", "Dapr sidecars"} {
		for _, g := range want[s] {
			wantTitles = append(wantTitles, s+" · "+g)
		}
	}
	require.Equal(t, wantTitles, got)
}

// One monitor per Prometheus alert rule, with its name, its severity as a
// tag and a priority, a message that links its runbook, a threshold that
// is the query's, and template variables that are the query's groups.
func TestMonitorsTranslateTheAlertRules(t *testing.T) {
	c := loadCatalogue(t)
	raw, err := os.ReadFile("monitors.json")
	require.NoError(t, err)
	ms, err := decodeMonitors(raw)
	require.NoError(t, err)
	runbooks, err := os.ReadFile("../../../docs/runbooks.md")
	require.NoError(t, err)

	var alerts []prometheus.Alert
	for _, g := range prometheus.Groups(prometheus.Production) {
		alerts = append(alerts, g.Alerts...)
	}
	require.Len(t, ms, len(alerts), "one monitor per alert rule")
	var errs []error
	for i, a := range alerts {
		mon := ms[i]
		fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(a.Name+": "+format, args...)) }
		if mon.GetName() != a.Name {
			fail("monitor %d is named %q", i, mon.GetName())
			continue
		}
		if !contains(mon.Tags, "severity:"+string(a.Severity)) || !contains(mon.Tags, Tag) {
			fail("tags %v lack severity:%s or %s", mon.Tags, a.Severity, Tag)
		}
		if p, want := mon.GetPriority(), priority(a.Severity); p != want {
			fail("priority %d, want %d for %s", p, want, a.Severity)
		}
		url := prometheus.RunbookURL(a.Name)
		if !strings.Contains(mon.GetMessage(), "Runbook: "+url) {
			fail("the message does not link %s", url)
		}
		anchor := "## " + a.Name
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(anchor) + `\s*$`).Match(runbooks) {
			fail("docs/runbooks.md has no section %q for the runbook link", anchor)
		}
		serviceCheck := mon.Type == datadogV1.MONITORTYPE_SERVICE_CHECK
		if !serviceCheck && mon.Type != datadogV1.MONITORTYPE_QUERY_ALERT {
			fail("type %q", mon.Type)
		}
		q, es := c.checkMonitorQuery(mon.Query, serviceCheck)
		errs = append(errs, es...)
		th := mon.GetOptions().Thresholds
		if th == nil || th.Critical == nil {
			fail("no critical threshold")
			continue
		}
		if serviceCheck {
			if q.last <= int(*th.Critical) {
				fail("last(%d) cannot hold %v consecutive failures", q.last, *th.Critical)
			}
		} else if q.threshold != *th.Critical {
			fail("the query compares with %v, the critical threshold is %v", q.threshold, *th.Critical)
		}
		for _, v := range regexp.MustCompile(`\{\{\s*([a-z_]+)\.name\s*\}\}`).FindAllStringSubmatch(mon.GetMessage(), -1) {
			if !contains(q.groups, v[1]) {
				fail("the message uses {{%s.name}}, but the query groups by %v", v[1], q.groups)
			}
		}
	}
	require.NoError(t, errors.Join(errs...))
}

// The query checks catch what they are for: each mistake below, in an
// otherwise valid query, is an error naming it.
func TestQueryCheckCatchesMistakes(t *testing.T) {
	c := loadCatalogue(t)
	ctx := exprCheck{vars: map[string]bool{VarApp: true, VarNamespace: true}, requireVars: true}
	good := "sum:secure_agent.jobs_finished.count{$app,$kube_namespace,state:failed} by {source_kind}.as_count()"
	_, errs := c.checkExpr(good, ctx)
	require.Empty(t, errs, "the base query must pass")
	for _, tc := range []struct{ name, query, want string }{
		{"a name with _total", "sum:secure_agent.jobs_finished_total.count{$app,$kube_namespace} by {source_kind}.as_count()", "no check submits"},
		{"the Prometheus name", "sum:secure_agent_jobs_finished_total{$app,$kube_namespace}.as_count()", "no check submits"},
		{"a counter without .count", "sum:secure_agent.jobs_finished{$app,$kube_namespace}", "no check submits"},
		{"a Dapr counter given _total", "sum:dapr.component_pubsub_egress_count_total.count{$app,$kube_namespace}.as_count()", "no check submits"},
		{"a label the metric does not have", "sum:secure_agent.jobs_finished.count{$app,$kube_namespace} by {status}.as_count()", `tag "status"`},
		{"a filter on a missing label", "sum:secure_agent.jobs_finished.count{$app,$kube_namespace,result:failed}.as_count()", `tag "result"`},
		{"a percentile of a count", "p95:secure_agent.jobs_finished.count{$app,$kube_namespace}.as_count()", "percentile of a count"},
		{"as_count of a gauge", "sum:secure_agent.partitions_in_flight{$app,$kube_namespace}.as_count()", ".as_count() of a gauge"},
		{"a count without as_count", "sum:secure_agent.jobs_finished.count{$app,$kube_namespace}", "without .as_count()"},
		{"a template variable not defined", "sum:secure_agent.partitions_in_flight{$app,$kube_namespace,$env}", "$env is not defined"},
		{"a missing template variable", "sum:secure_agent.partitions_in_flight{$app}", "does not use template variable $kube_namespace"},
		{"an unknown function", "timeshift(sum:secure_agent.partitions_in_flight{$app,$kube_namespace}, 60)", "unknown function timeshift"},
		{"an unknown aggregator", "median:secure_agent.partitions_in_flight{$app,$kube_namespace}", "unknown space aggregator"},
		{"queries that do not join", "sum:secure_agent.jobs_finished.count{$app,$kube_namespace} by {state}.as_count() / sum:secure_agent.jobs_finished.count{$app,$kube_namespace}.as_count()", "grouped differently"},
		{"garbage", "sum:secure_agent.partitions_in_flight{$app,$kube_namespace} %% 2", "cannot read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := c.checkExpr(tc.query, ctx)
			require.ErrorContains(t, errors.Join(errs...), tc.want)
		})
	}
	for _, tc := range []struct {
		name, query  string
		serviceCheck bool
		want         string
	}{
		{"a monitor on a missing metric", "sum(last_10m):sum:secure_agent.heartbeat.count{*}.as_count() > 0", false, "no check submits"},
		{"a monitor without comparator", "sum(last_10m):sum:secure_agent.heartbeats.count{*}.as_count()", false, "is not <aggr>"},
		{"a template variable in a monitor", "sum(last_10m):sum:secure_agent.heartbeats.count{$app}.as_count() > 0", false, "not defined here"},
		{"a service check nobody sends", `"secure_agent.prometheus.health".over("container:app").by("app").last(3).count_by_status()`, true, "no check sends"},
		{"a service check on the other container", `"dapr.openmetrics.health".over("container:app").by("app").last(3).count_by_status()`, true, "is sent by the daprd check"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := c.checkMonitorQuery(tc.query, tc.serviceCheck)
			require.ErrorContains(t, errors.Join(errs...), tc.want)
		})
	}
}
