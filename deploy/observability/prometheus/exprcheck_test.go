package prometheus

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/metricdef"
)

// series is what the checks know about one metric name: its labels and,
// where known, the values each label takes (nil: any).
type series struct {
	labels map[string][]string
	// help, for metricdef metrics: a label value the rules match must be
	// one the help text names ("by final state (succeeded, failed, …)").
	help string
}

// catalogue is every name an expression may select: the metrics of
// libs/metricdef (histograms as _bucket, _sum and _count), the Dapr metrics
// the rules use, `up`, the recording rules and ExpectedSuccessInterval.
func catalogue(records []Record) map[string]series {
	target := func() map[string][]string {
		m := map[string][]string{}
		for _, l := range TargetLabels {
			m[l] = nil
		}
		m[LabelApp] = appNames
		m[LabelContainer] = []string{ContainerApp, ContainerSidecar}
		return m
	}
	cat := map[string]series{Up: {labels: target()}}
	for _, d := range metricdef.All() {
		ls := target()
		for _, l := range d.Labels {
			ls[l] = nil
		}
		names := []string{d.Name}
		if d.Type == metricdef.Histogram {
			names = []string{d.Name + "_bucket", d.Name + "_sum", d.Name + "_count"}
		}
		for _, n := range names {
			s := series{labels: maps(ls), help: d.Help}
			if strings.HasSuffix(n, "_bucket") {
				s.labels["le"] = nil
			}
			cat[n] = s
		}
	}
	for _, d := range DaprMetrics() {
		ls := target()
		for l, v := range d.Labels {
			ls[l] = v
		}
		cat[d.Name] = series{labels: ls}
	}
	for _, r := range records {
		ls := map[string][]string{}
		for _, l := range r.Labels {
			ls[l] = nil
		}
		cat[r.Name] = series{labels: ls}
	}
	cat[ExpectedSuccessInterval] = series{labels: map[string][]string{"connection": nil}}
	return cat
}

func maps(m map[string][]string) map[string][]string {
	out := make(map[string][]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// allRecords are the recording rules of every group.
func allRecords(t Timings) []Record {
	var out []Record
	for _, g := range Groups(t) {
		out = append(out, g.Records...)
	}
	return out
}

var simpleAlternation = regexp.MustCompile(`^[a-z0-9_]+(\|[a-z0-9_]+)*$`)

// checkExpr parses expr with Prometheus's parser and reports every
// selected name not in cat, every label a selector, a `by` or an `on` uses
// that the metrics involved do not have, and every label value that is not
// one the metric takes.
func checkExpr(expr string, cat map[string]series) error {
	e, err := promqlParser.ParseExpr(expr)
	if err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	var errs []error
	for _, vs := range selectors(e) {
		name := selectorName(vs)
		s, ok := cat[name]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: %q is not a metric of libs/metricdef, a Dapr metric, up or a recording rule", vs, name))
			continue
		}
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName {
				continue
			}
			allowed, ok := s.labels[m.Name]
			if !ok {
				errs = append(errs, fmt.Errorf("%s: %s has no label %q", vs, name, m.Name))
				continue
			}
			for _, v := range matcherValues(m) {
				switch {
				case v == "" && m.Type != labels.MatchEqual && m.Type != labels.MatchRegexp:
					// {x!=""}: any value.
				case allowed != nil && !slices.Contains(allowed, v):
					errs = append(errs, fmt.Errorf("%s: label %s of %s takes %v, not %q", vs, m.Name, name, allowed, v))
				case allowed == nil && s.help != "" && !regexp.MustCompile(`\b`+regexp.QuoteMeta(v)+`\b`).MatchString(s.help):
					errs = append(errs, fmt.Errorf("%s: %q is not a value of label %s its help names (%q)", vs, v, m.Name, s.help))
				}
			}
		}
	}
	labelsOf := func(n parser.Node) map[string]bool {
		out := map[string]bool{}
		parser.Inspect(n, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				for l := range cat[selectorName(vs)].labels {
					out[l] = true
				}
			}
			return nil
		})
		return out
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.AggregateExpr:
			have := labelsOf(n.Expr)
			for _, l := range n.Grouping {
				if !have[l] {
					errs = append(errs, fmt.Errorf("%s: no metric it aggregates has the label %q", n, l))
				}
			}
		case *parser.BinaryExpr:
			if n.VectorMatching == nil || !n.VectorMatching.On {
				break
			}
			lhs, rhs := labelsOf(n.LHS), labelsOf(n.RHS)
			for _, l := range n.VectorMatching.MatchingLabels {
				if !lhs[l] || !rhs[l] {
					errs = append(errs, fmt.Errorf("%s: on (%s): both sides must have the label", n, l))
				}
			}
		}
		return nil
	})
	return errors.Join(errs...)
}

// matcherValues are the values a matcher names: its value, or each branch
// of a simple alternation ("error|denied").
func matcherValues(m *labels.Matcher) []string {
	if (m.Type == labels.MatchRegexp || m.Type == labels.MatchNotRegexp) && simpleAlternation.MatchString(m.Value) {
		return strings.Split(m.Value, "|")
	}
	return []string{m.Value}
}

// Every expression of both rule files parses with Prometheus's parser and
// selects only known metrics, labels and label values.
func TestExpressionsUseKnownMetrics(t *testing.T) {
	for _, tm := range []Timings{Production, E2E} {
		cat := catalogue(allRecords(tm))
		for _, g := range Rules(tm).Groups {
			for _, r := range g.Rules {
				name := r.Alert + r.Record
				t.Run(tm.Name+"/"+name, func(t *testing.T) {
					require.NoError(t, checkExpr(r.Expr, cat), r.Expr)
				})
			}
		}
	}
}

// The check catches the mistakes that leave a dashboard empty or an alert
// silent: a retyped or renamed metric, a counter without _total (or a Dapr
// counter with it), a histogram without its suffix, a renamed label, a
// label value the metric never takes.
func TestExpressionCheckCatchesMistakes(t *testing.T) {
	cat := catalogue(allRecords(Production))
	for _, tc := range []struct{ expr, want string }{
		{`sum(rate(secure_agent_jobs_finishd_total[5m]))`, `"secure_agent_jobs_finishd_total" is not a metric`},
		{`sum(rate(secure_agent_jobs_finished[5m]))`, `"secure_agent_jobs_finished" is not a metric`},
		{`rate(dapr_runtime_workflow_execution_count_total[5m])`, `"dapr_runtime_workflow_execution_count_total" is not a metric`},
		{`secure_agent_job_duration_seconds > 0`, `"secure_agent_job_duration_seconds" is not a metric`},
		{`{state="failed"}`, `"" is not a metric`},
		{`secure_agent_jobs_finished_total{status="failed"}`, `has no label "status"`},
		{`secure_agent_jobs_finished_total{state="failure"}`, `"failure" is not a value of label state`},
		{`secure_agent_secret_reads_total{result=~"error|refused"}`, `"refused" is not a value of label result`},
		{`dapr_runtime_workflow_execution_count{status="FAILED"}`, `not "FAILED"`},
		{`up{app="worker"}`, `not "worker"`},
		{`up{container="sidecar"}`, `not "sidecar"`},
		{`sum by (kind) (secure_agent_jobs_finished_total)`, `has the label "kind"`},
		{`secure_agent:last_success_age:seconds > on (source_kind) secure_agent:jobs_failed:ratio`, `on (source_kind)`},
		{`sum(rate(secure_agent_jobs_finished_total[5m])`, `parse`},
	} {
		err := checkExpr(tc.expr, cat)
		require.Error(t, err, tc.expr)
		require.ErrorContains(t, err, tc.want, tc.expr)
	}
	for _, ok := range []string{
		`histogram_quantile(0.9, sum by (le, phase) (rate(secure_agent_job_phase_duration_seconds_bucket[5m])))`,
		`sum by (app) (rate(secure_agent_pubsub_events_total{result="deadletter", container="app"}[5m]))`,
		`up{app="extractor", container="daprd"}`,
	} {
		require.NoError(t, checkExpr(ok, cat), ok)
	}
}
