package grafana

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/metricdef"
)

// targetLabels are the labels Prometheus puts on every series of a target
// (docs/observability.md: app, container; instance and job always; the
// Kubernetes ones from the chart's scrape configuration).
var targetLabels = []string{"app", "container", "instance", "job", "namespace", "pod"}

// series is what a selector may select: its labels and its kind.
type series struct {
	labels []string
	// kind: counter (only under rate/increase), gauge (never under them),
	// bucket (a histogram's _bucket: only under rate, summed by le, under
	// histogram_quantile), or counter for a histogram's _sum and _count.
	kind string
}

// catalogue maps every selectable series name to its labels: metricdef's
// metrics, Dapr's families and `up`.
type catalogue map[string]series

func (c catalogue) add(name, typ string, labels []string) {
	ls := slices.Concat(labels, targetLabels)
	switch typ {
	case "histogram":
		c[name+"_bucket"] = series{labels: append(slices.Clone(ls), "le"), kind: "bucket"}
		c[name+"_sum"] = series{labels: ls, kind: "counter"}
		c[name+"_count"] = series{labels: ls, kind: "counter"}
	case "counter", "gauge":
		c[name] = series{labels: ls, kind: typ}
	default:
		panic("unknown metric type " + typ)
	}
}

func newCatalogue(defs []metricdef.Def, dapr map[string]daprFamily) catalogue {
	c := catalogue{}
	c.add("up", "gauge", nil)
	for _, d := range defs {
		c.add(d.Name, string(d.Type), d.Labels)
	}
	for _, f := range dapr {
		c.add(f.name, f.typ, f.labels)
	}
	return c
}

func loadCatalogue(t *testing.T) catalogue {
	t.Helper()
	dapr, err := loadDaprFamilies(daprMetricsFile)
	require.NoError(t, err)
	return newCatalogue(metricdef.All(), dapr)
}

var (
	rangeRe    = regexp.MustCompile(`\[[^\]]*\]`)
	variableRe = regexp.MustCompile(`\$\{?(\w+)\}?`)
	legendRe   = regexp.MustCompile(`\{\{\s*([^}\s]+)\s*\}\}`)
)

// varValue is what a template variable becomes before parsing: a value
// that shows where it was used.
func varValue(name string) string { return "__var_" + name + "__" }

// substitute readies a dashboard expression for Prometheus's parser:
// $__rate_interval becomes 1m, every other variable varValue(name).
func substitute(expr string) string {
	expr = strings.ReplaceAll(expr, "$"+RateInterval[1:], "1m")
	return variableRe.ReplaceAllStringFunc(expr, func(v string) string {
		return varValue(variableRe.FindStringSubmatch(v)[1])
	})
}

// checkExpr applies the rules every dashboard query follows and returns
// what breaks them:
//   - it parses with Prometheus's own parser;
//   - every range is [$__rate_interval], and the only variable besides it
//     is $app;
//   - every selector names a series the catalogue knows and keeps the
//     selected apps (app=~"$app"); every label it matches, groups by or
//     joins on, and every {{label}} of the legend, is one its operands
//     carry;
//   - counters appear only under rate() or increase(), gauges never; a
//     histogram's buckets only as rate() summed by le under
//     histogram_quantile().
func checkExpr(c catalogue, expr, legend string) []error {
	var errs []error
	for _, r := range rangeRe.FindAllString(expr, -1) {
		if r != "["+RateInterval+"]" {
			errs = append(errs, fmt.Errorf("range %s: use [%s]", r, RateInterval))
		}
	}
	for _, m := range variableRe.FindAllStringSubmatch(expr, -1) {
		if m[1] != AppVar && "$"+m[1] != RateInterval {
			errs = append(errs, fmt.Errorf("variable $%s: the dashboards define only $%s", m[1], AppVar))
		}
	}
	e, err := parser.NewParser(parser.Options{}).ParseExpr(substitute(expr))
	if err != nil {
		return append(errs, fmt.Errorf("parse: %w", err))
	}
	ck := &exprChecker{c: c}
	out := ck.labels(e, exprCtx{})
	errs = append(errs, ck.errs...)
	for _, m := range legendRe.FindAllStringSubmatch(legend, -1) {
		if !out.has(m[1]) {
			errs = append(errs, fmt.Errorf("legend {{%s}}: the result has no label %s (it has %s)", m[1], m[1], out))
		}
	}
	return errs
}

// labelSet is the labels a subexpression's result may carry.
type labelSet map[string]bool

func (s labelSet) has(l string) bool { return s[l] }

func (s labelSet) String() string {
	var ls []string
	for l := range s {
		ls = append(ls, l)
	}
	sort.Strings(ls)
	return strings.Join(ls, ", ")
}

func setOf(ls []string) labelSet {
	s := labelSet{}
	for _, l := range ls {
		s[l] = true
	}
	return s
}

// exprCtx is where a subexpression sits.
type exprCtx struct {
	inRate     bool // the argument of rate() or increase()
	sumByLe    bool // under an aggregation by le ...
	inQuantile bool // ... under histogram_quantile()
}

type exprChecker struct {
	c    catalogue
	errs []error
}

func (k *exprChecker) fail(format string, args ...any) {
	k.errs = append(k.errs, fmt.Errorf(format, args...))
}

// labels checks e and returns the labels its result may carry.
func (k *exprChecker) labels(e parser.Expr, ctx exprCtx) labelSet {
	switch n := e.(type) {
	case *parser.ParenExpr:
		return k.labels(n.Expr, ctx)
	case *parser.NumberLiteral, *parser.StringLiteral:
		return labelSet{}
	case *parser.MatrixSelector:
		return k.labels(n.VectorSelector, ctx)
	case *parser.VectorSelector:
		return k.selector(n, ctx)
	case *parser.Call:
		switch n.Func.Name {
		case "rate", "increase":
			return k.labels(n.Args[0], exprCtx{inRate: true, sumByLe: ctx.sumByLe, inQuantile: ctx.inQuantile})
		case "histogram_quantile":
			ls := k.labels(n.Args[1], exprCtx{inQuantile: true})
			out := labelSet{}
			for l := range ls {
				if l != "le" {
					out[l] = true
				}
			}
			return out
		case "time":
			return labelSet{}
		default:
			k.fail("function %s: not one the dashboards use (rate, increase, histogram_quantile, time)", n.Func.Name)
			return labelSet{}
		}
	case *parser.AggregateExpr:
		inner := ctx
		inner.sumByLe = !n.Without && slices.Contains(n.Grouping, "le")
		ls := k.labels(n.Expr, inner)
		if n.Without {
			k.fail("%s without (...): group by the labels to keep", n.Op)
			return ls
		}
		for _, g := range n.Grouping {
			if !ls.has(g) {
				k.fail("%s by (%s): its operand has no label %s (it has %s)", n.Op, g, g, ls)
			}
		}
		return setOf(n.Grouping)
	case *parser.BinaryExpr:
		lhs := k.labels(n.LHS, ctx)
		rhs := k.labels(n.RHS, ctx)
		if n.VectorMatching != nil {
			for _, l := range n.VectorMatching.MatchingLabels {
				if !lhs.has(l) || !rhs.has(l) {
					k.fail("%s on/ignoring (%s): both sides must have it (left: %s; right: %s)", n.Op, l, lhs, rhs)
				}
			}
		}
		if n.Op == parser.LOR {
			out := labelSet{}
			for l := range lhs {
				out[l] = true
			}
			for l := range rhs {
				out[l] = true
			}
			return out
		}
		if len(lhs) == 0 {
			return rhs
		}
		return lhs
	default:
		k.fail("%T: not an expression the dashboards use", e)
		return labelSet{}
	}
}

func (k *exprChecker) selector(n *parser.VectorSelector, ctx exprCtx) labelSet {
	s, ok := k.c[n.Name]
	if !ok {
		k.fail("metric %s: neither in libs/metricdef nor a Dapr metric (%s) nor up", n.Name, daprMetricsFile)
		return labelSet{}
	}
	known := setOf(s.labels)
	hasApp := false
	for _, m := range n.LabelMatchers {
		if m.Name == "__name__" {
			continue
		}
		if !known.has(m.Name) {
			k.fail("%s{%s}: %s has no label %s (it has %s)", n.Name, m, n.Name, m.Name, known)
		}
		if m.Name == AppVar && m.Type.String() == "=~" && m.Value == varValue(AppVar) {
			hasApp = true
		}
	}
	if !hasApp {
		k.fail("%s: keep the selected apps with %s", n.Name, appMatcher)
	}
	switch s.kind {
	case "counter":
		if !ctx.inRate {
			k.fail("%s is a counter: use rate() or increase()", n.Name)
		}
	case "gauge":
		if ctx.inRate {
			k.fail("%s is a gauge: rate() and increase() are for counters", n.Name)
		}
	case "bucket":
		if !ctx.inRate || !ctx.sumByLe || !ctx.inQuantile {
			k.fail("%s: a histogram's buckets go in histogram_quantile(q, sum by (le, ...) (rate(...)))", n.Name)
		}
	}
	return known
}

// Every query of every committed dashboard passes checkExpr.
func TestQueriesSelectExportedMetrics(t *testing.T) {
	c := loadCatalogue(t)
	for name, d := range committedBoards(t) {
		for _, p := range d.Panels {
			if p.Panel == nil {
				continue
			}
			for _, q := range queriesOf(p.Panel) {
				for _, err := range checkExpr(c, q.Expr, deref(q.LegendFormat)) {
					t.Errorf("%s / %s: %s: %v", name, deref(p.Panel.Title), q.Expr, err)
				}
			}
		}
	}
}

// The checks catch what makes a panel empty: a renamed metric, a renamed
// label (dapr#7120), a counter read without rate, a legend naming a label
// the sum dropped, a missing app filter, a fixed range.
func TestQueryCheckCatchesMistakes(t *testing.T) {
	c := loadCatalogue(t)
	ok := []struct{ expr, legend string }{
		{sumBy("state", increase(metricdef.JobsFinished.Name)), "{{state}}"},
		{quantile("0.95", metricdef.JobDuration.Name, "state"), "{{state}} p95"},
		{sumBy("app, topic", rate(daprPubsubEgressCount)), "{{app}} {{topic}}"},
		{orZero(sumBy("app, component", increase(daprComponentInitFail))), "{{app}} {{component}}"},
		{sel("up", `container="daprd"`) + " == 0", "{{app}} {{container}}"},
	}
	for _, q := range ok {
		require.Empty(t, checkExpr(c, q.expr, q.legend), q.expr)
	}
	renamed := strings.Replace(metricdef.JobsFinished.Name, "finished", "finish", 1)
	bad := []struct{ expr, legend, want string }{
		{sumBy("state", increase(renamed)), "", "metric " + renamed + ": neither in libs/metricdef"},
		{sumBy("state", increase("dapr_component_pubsub_egress_total")), "", "neither in libs/metricdef nor a Dapr metric"},
		{sumBy("app_id_renamed", rate(daprPubsubEgressCount)), "", "has no label app_id_renamed"},
		{sumBy("state", increase(metricdef.JobsFinished.Name, `status="failed"`)), "", "has no label status"},
		{sumBy("state", sel(metricdef.JobsFinished.Name)), "", "is a counter: use rate() or increase()"},
		{sumBy("", rate(metricdef.PartitionsInFlight.Name)), "", "is a gauge"},
		{sumBy("le", rate(metricdef.JobDuration.Name+"_bucket")), "", "a histogram's buckets go in histogram_quantile"},
		{sumBy("state", increase(metricdef.JobsFinished.Name)), "{{source_kind}}", "legend {{source_kind}}"},
		{`sum(increase(` + metricdef.JobsStarted.Name + `[$__rate_interval]))`, "", "keep the selected apps"},
		{`sum(increase(` + metricdef.JobsStarted.Name + `{app=~"$app"}[5m]))`, "", "range [5m]"},
		{`sum(increase(` + metricdef.JobsStarted.Name + `{app=~"$app", source_kind=~"$kind"}[$__rate_interval]))`, "", "variable $kind"},
		{`sum by (state) (increase(` + metricdef.JobsFinished.Name + `{app=~"$app"}[$__rate_interval])`, "", "parse"},
		{orZero(sumBy("component", increase(daprComponentInitFail))), "", "on/ignoring (app)"},
	}
	for _, q := range bad {
		require.ErrorContains(t, errors.Join(checkExpr(c, q.expr, q.legend)...), q.want, q.expr)
	}
}
