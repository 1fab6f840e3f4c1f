package datadog

import "strings"

// Template variables of the dashboard: the Dapr app id (the checks' `app`
// tag) and the Kubernetes namespace (a tag Autodiscovery adds), so that two
// releases in one Datadog organisation can be told apart.
const (
	VarApp       = "app"
	VarNamespace = "kube_namespace"
)

// dashScope is the scope every dashboard query starts with.
var dashScope = []string{"$" + VarApp, "$" + VarNamespace}

// scope is a query's tag filter: the template variables, then filters.
func scope(filters ...string) string {
	return "{" + strings.Join(append(append([]string(nil), dashScope...), filters...), ",") + "}"
}

// by is a query's grouping: " by {a,b}", or nothing.
func by(tags string) string {
	if tags == "" {
		return ""
	}
	return " by {" + strings.ReplaceAll(tags, " ", "") + "}"
}

// perInterval counts a count metric's increase in each interval of the
// graph (Prometheus: increase(...[$__rate_interval])).
func perInterval(metric, tags string, filters ...string) string {
	return "sum:" + metric + scope(filters...) + by(tags) + ".as_count()"
}

// perSecond is a count metric's per-second rate (Prometheus: rate()).
func perSecond(metric, tags string, filters ...string) string {
	return "sum:" + metric + scope(filters...) + by(tags) + ".as_rate()"
}

// value aggregates a gauge across series with aggr (sum, max, ...).
func value(aggr, metric, tags string, filters ...string) string {
	return aggr + ":" + metric + scope(filters...) + by(tags)
}

// percentile of a distribution, e.g. percentile("95", ...) → p95:<metric>.
func percentile(p, metric, tags string, filters ...string) string {
	return "p" + p + ":" + metric + scope(filters...) + by(tags)
}
