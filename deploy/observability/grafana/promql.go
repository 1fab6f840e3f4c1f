package grafana

import (
	"fmt"
	"strings"
)

// The PromQL the panels are made of. Every selector carries the app
// matcher, and every rate and increase the $__rate_interval window.

// RateInterval is Grafana's window for rate() and increase(): at least four
// scrape intervals, so a rate always has two samples.
const RateInterval = "$__rate_interval"

// appMatcher keeps the series of the selected apps.
const appMatcher = `app=~"$` + AppVar + `"`

// sel is a selector of metric for the selected apps and the extra matchers.
func sel(metric string, matchers ...string) string {
	return metric + "{" + strings.Join(append([]string{appMatcher}, matchers...), ", ") + "}"
}

// rate is the per-second rate of a counter.
func rate(metric string, matchers ...string) string {
	return fmt.Sprintf("rate(%s[%s])", sel(metric, matchers...), RateInterval)
}

// increase is a counter's increase over the window.
func increase(metric string, matchers ...string) string {
	return fmt.Sprintf("increase(%s[%s])", sel(metric, matchers...), RateInterval)
}

// sumBy aggregates expr by labels (none: one series).
func sumBy(labels, expr string) string {
	if labels == "" {
		return "sum(" + expr + ")"
	}
	return "sum by (" + labels + ") (" + expr + ")"
}

// quantile is the q-quantile of histogram (its name without _bucket) by
// labels, from the buckets' rate.
func quantile(q, histogram, labels string, matchers ...string) string {
	by := "le"
	if labels != "" {
		by += ", " + labels
	}
	return fmt.Sprintf("histogram_quantile(%s, %s)", q, sumBy(by, rate(histogram+"_bucket", matchers...)))
}

// p50 and p95 are the two quantiles the latency panels show, as targets.
func p50p95(histogram, labels, legend string, when When, matchers ...string) []target {
	if legend != "" {
		legend += " "
	}
	return []target{
		{expr: quantile("0.5", histogram, labels, matchers...), legend: legend + "p50", when: when},
		{expr: quantile("0.95", histogram, labels, matchers...), legend: legend + "p95", when: when},
	}
}

// orZero shows 0 for every sidecar that has no series of expr (summed by
// app), so a counter of rare events (a component that failed to start)
// draws a flat line instead of "No data".
func orZero(expr string) string {
	return fmt.Sprintf("%s or on (app) (%s * 0)", expr, sumBy("app", sel("up", `container="daprd"`)))
}
