package datadog

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// A checker of the Datadog metric query syntax the assets use, strict
// enough that anything it does not know is an error:
//
//	<aggr>:<metric>{<scope>}[ by {<tag>,...}][.as_count()|.as_rate()|.fill(..)|.rollup(..)]
//
// inside arithmetic (+ - * / and parentheses), numbers and the functions
// in allowedFunctions; monitors add "<time aggr>(last_<n><unit>):<expr>
// <comparator> <threshold>", and service-check monitors their own form.

// metricQueryRe is one metric query.
var metricQueryRe = regexp.MustCompile(`([a-z][a-z0-9]*):([A-Za-z][A-Za-z0-9_.]*)\{([^{}]*)\}(\s+by\s+\{([^{}]*)\})?((?:\.[a-z_]+\([^()]*\))*)`)

// modifierRe is one modifier of a metric query.
var modifierRe = regexp.MustCompile(`\.([a-z_]+)\(([^()]*)\)`)

// Space aggregators: any metric; percentiles only for distributions.
var (
	spaceAggregators = map[string]bool{"avg": true, "sum": true, "min": true, "max": true}
	percentiles      = map[string]bool{"p50": true, "p75": true, "p90": true, "p95": true, "p99": true}
	// Functions around metric queries (Datadog's function reference).
	allowedFunctions = map[string]bool{"count_not_null": true, "moving_rollup": true}
)

// metricRef is one metric query found in an expression.
type metricRef struct {
	aggr, metric string
	scope        []string
	by           []string
	modifiers    []string
}

// exprCheck is the context of an expression: the template variables it
// may use (by name, without $) and whether every query must use all of them.
type exprCheck struct {
	vars        map[string]bool
	requireVars bool
}

// checkExpr checks an expression against the catalogue and returns its
// metric queries.
func (c catalogue) checkExpr(expr string, ctx exprCheck) ([]metricRef, []error) {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	var refs []metricRef
	rest := metricQueryRe.ReplaceAllStringFunc(expr, func(s string) string {
		sm := metricQueryRe.FindStringSubmatch(s)
		ref := metricRef{aggr: sm[1], metric: sm[2], scope: splitScope(sm[3])}
		if sm[4] != "" {
			for _, t := range strings.Split(sm[5], ",") {
				ref.by = append(ref.by, strings.TrimSpace(t))
			}
		}
		for _, mm := range modifierRe.FindAllStringSubmatch(sm[6], -1) {
			ref.modifiers = append(ref.modifiers, mm[1])
		}
		refs = append(refs, ref)
		return " Q "
	})
	if len(refs) == 0 {
		fail("%q: no metric query", expr)
	}
	if err := checkRest(rest); err != nil {
		fail("%q: %v", expr, err)
	}
	for _, r := range refs {
		for _, err := range c.checkRef(r, ctx) {
			fail("%q: %v", expr, err)
		}
	}
	// Arithmetic joins series by group: every query of one expression
	// groups by the same tags.
	for _, r := range refs[min(1, len(refs)):] {
		if strings.Join(r.by, ",") != strings.Join(refs[0].by, ",") {
			fail("%q: queries grouped differently (%v, %v) do not join", expr, refs[0].by, r.by)
		}
	}
	return refs, errs
}

func (c catalogue) checkRef(r metricRef, ctx exprCheck) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(r.metric+": "+format, args...)) }
	m, ok := c[r.metric]
	if !ok {
		fail("no check submits this metric (not in libs/metricdef nor in %s, as Check.Metrics maps them)", daprMetricsFile)
		return errs
	}
	switch {
	case spaceAggregators[r.aggr]:
	case percentiles[r.aggr]:
		if m.Kind != Distribution {
			fail("%s: a percentile of a %s (only distributions have them)", r.aggr, m.Kind)
		}
	default:
		fail("unknown space aggregator %q", r.aggr)
	}
	asCount := false
	for _, mod := range r.modifiers {
		switch mod {
		case "as_count", "as_rate":
			asCount = true
			if m.Kind != Count {
				fail(".%s() of a %s", mod, m.Kind)
			}
		case "fill", "rollup":
		default:
			fail("unknown modifier .%s()", mod)
		}
	}
	if m.Kind == Count && !asCount {
		fail("a count without .as_count() or .as_rate()")
	}
	used := map[string]bool{}
	for _, term := range r.scope {
		switch {
		case term == "*":
		case strings.HasPrefix(term, "$"):
			v := strings.TrimPrefix(term, "$")
			if !ctx.vars[v] {
				fail("template variable %s is not defined here", term)
			}
			used[v] = true
			if !m.tags[v] {
				fail("template variable %s filters on a tag the metric does not carry", term)
			}
		default:
			key, _, ok := strings.Cut(strings.TrimPrefix(term, "!"), ":")
			if !ok || key == "" {
				fail("scope term %q is not tag:value", term)
			} else if !m.tags[key] {
				fail("scope filters on tag %q, which the metric does not carry (%s)", key, tagList(m.tags))
			}
		}
	}
	if ctx.requireVars {
		for v := range ctx.vars {
			if !used[v] {
				fail("the scope does not use template variable $%s", v)
			}
		}
	}
	for _, b := range r.by {
		if !m.tags[b] {
			fail("grouped by tag %q, which the metric does not carry (%s)", b, tagList(m.tags))
		}
	}
	return errs
}

// splitScope splits a tag filter on commas and AND/OR.
func splitScope(s string) []string {
	var out []string
	for _, p := range regexp.MustCompile(`\s*,\s*|\s+(?:AND|OR)\s+`).Split(strings.TrimSpace(s), -1) {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

var tokenRe = regexp.MustCompile(`^\s*(?:(Q)|([a-z_][a-z0-9_]*)\s*\(|(-?[0-9]+(?:\.[0-9]+)?)|('[a-z]+')|([-+*/(),]))`)

// checkRest checks what is left of an expression once its metric queries
// are replaced by Q: functions, numbers, quoted names, arithmetic.
func checkRest(rest string) error {
	for s := rest; strings.TrimSpace(s) != ""; {
		m := tokenRe.FindStringSubmatch(s)
		if m == nil {
			return fmt.Errorf("cannot read %q", strings.TrimSpace(s))
		}
		if m[2] != "" && !allowedFunctions[m[2]] {
			return fmt.Errorf("unknown function %s()", m[2])
		}
		s = s[len(m[0]):]
	}
	if strings.Count(rest, "(") != strings.Count(rest, ")") {
		return fmt.Errorf("unbalanced parentheses")
	}
	return nil
}

func tagList(tags map[string]bool) string {
	var out []string
	for t := range tags {
		out = append(out, t)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// monitorQueryRe is a metric monitor's query.
var monitorQueryRe = regexp.MustCompile(`^(avg|sum|min|max)\(last_([0-9]+)(m|h|d)\):(.+)\s(>=|<=|>|<)\s(-?[0-9]+(?:\.[0-9]+)?)$`)

// serviceCheckQueryRe is a service-check monitor's query.
var serviceCheckQueryRe = regexp.MustCompile(`^"([a-z_.]+)"\.over\(((?:"[^"]+"(?:,\s*)?)+)\)\.by\(((?:"[^"]+"(?:,\s*)?)+)\)\.last\(([0-9]+)\)\.count_by_status\(\)$`)

// monitorQuery is what checkMonitorQuery learns from a monitor's query.
type monitorQuery struct {
	threshold float64
	// groups are the tags the monitor groups by (its template variables).
	groups []string
	// last is the number of statuses a service-check monitor looks at.
	last int
}

func (c catalogue) checkMonitorQuery(query string, serviceCheck bool) (monitorQuery, []error) {
	var out monitorQuery
	if serviceCheck {
		sm := serviceCheckQueryRe.FindStringSubmatch(query)
		if sm == nil {
			return out, []error{fmt.Errorf("%q is not a service check query this test knows", query)}
		}
		var errs []error
		var check *Check
		for _, ch := range Checks() {
			if ch.HealthCheck() == sm[1] {
				check = &ch
			}
		}
		if check == nil {
			return out, []error{fmt.Errorf("%q: no check sends service check %s", query, sm[1])}
		}
		for _, tag := range quoted(sm[2]) {
			k, v, _ := strings.Cut(tag, ":")
			switch {
			case k == TagContainer && v != check.Container:
				errs = append(errs, fmt.Errorf("%q: %s is sent by the %s check", query, sm[1], check.Container))
			case k != TagContainer && k != TagApp:
				errs = append(errs, fmt.Errorf("%q: the service check carries no tag %q", query, k))
			}
		}
		for _, g := range quoted(sm[3]) {
			if g != TagApp && g != TagContainer && g != "endpoint" {
				errs = append(errs, fmt.Errorf("%q: the service check carries no tag %q to group by", query, g))
			}
			out.groups = append(out.groups, g)
		}
		out.last, _ = strconv.Atoi(sm[4])
		return out, errs
	}
	sm := monitorQueryRe.FindStringSubmatch(query)
	if sm == nil {
		return out, []error{fmt.Errorf("%q is not <aggr>(last_<n>):<expr> <comparator> <threshold>", query)}
	}
	out.threshold, _ = strconv.ParseFloat(sm[6], 64)
	refs, errs := c.checkExpr(sm[4], exprCheck{})
	if len(refs) > 0 {
		out.groups = refs[0].by
	}
	return out, errs
}

func quoted(list string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`"([^"]+)"`).FindAllStringSubmatch(list, -1) {
		out = append(out, m[1])
	}
	return out
}
