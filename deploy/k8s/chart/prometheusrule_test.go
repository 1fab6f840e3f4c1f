package chart

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"sigs.k8s.io/yaml"
)

// The chart's PrometheusRule (templates/prometheusrule.yaml) embeds
// files/prometheus/secure-agent.rules.yaml, a copy of the rule file
// deploy/observability/prometheus generates (and checks) next to its
// promtool unit tests.
const (
	generatedRulesFile = "../../observability/prometheus/secure-agent.rules.yaml"
	chartRulesFile     = "files/prometheus/secure-agent.rules.yaml"
	// expectedIntervalRecord is what SecureAgentNoSuccessfulJob reads for
	// a connection's own interval (prometheusRule.expectedSuccessIntervals).
	expectedIntervalRecord = "secure_agent:expected_success_interval:seconds"
)

// monitoringSerializer decodes strictly into the Prometheus Operator's own
// types (monitoring.coreos.com/v1). They are kept out of the shared Scheme:
// no values profile enables the PrometheusRule.
var monitoringSerializer = func() *json.Serializer {
	s := runtime.NewScheme()
	utilruntime.Must(monitoringv1.AddToScheme(s))
	return json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{Strict: true})
}()

func decodePrometheusRule(t *testing.T, o Object) *monitoringv1.PrometheusRule {
	t.Helper()
	out, _, err := monitoringSerializer.Decode(o.JSON, nil, nil)
	require.NoError(t, err, "%s: strict decoding into monitoringv1.PrometheusRule", o)
	pr, ok := out.(*monitoringv1.PrometheusRule)
	require.True(t, ok, "%s decoded into %T", o, out)
	return pr
}

// plainRuleGroups reads the generated rule file strictly into the
// operator's RuleGroup type.
func plainRuleGroups(t *testing.T) []monitoringv1.RuleGroup {
	t.Helper()
	data, err := os.ReadFile(generatedRulesFile)
	require.NoError(t, err)
	var f struct {
		Groups []monitoringv1.RuleGroup `json:"groups"`
	}
	require.NoError(t, yaml.UnmarshalStrict(data, &f), generatedRulesFile)
	require.NotEmpty(t, f.Groups)
	return f.Groups
}

func prometheusRules(objs []Object) []Object {
	var out []Object
	for _, o := range objs {
		if o.Kind == "PrometheusRule" {
			out = append(out, o)
		}
	}
	return out
}

func renderWithRule(t *testing.T, rule map[string]any) ([]Object, error) {
	t.Helper()
	base, err := ReadValuesFile(filepath.Join(profilesDir, "default.yaml"))
	require.NoError(t, err)
	return Render(chartDir, merge(base, map[string]any{"prometheusRule": rule}), kedaCaps)
}

// The chart's copy of the rule file is the generated one, byte for byte.
func TestPrometheusRuleFileIsTheGeneratedOne(t *testing.T) {
	generated, err := os.ReadFile(generatedRulesFile)
	require.NoError(t, err)
	copied, err := os.ReadFile(filepath.Join(chartDir, chartRulesFile))
	require.NoError(t, err)
	require.True(t, bytes.Equal(generated, copied),
		"%s differs from %s: run `go test ./prometheus -update` in deploy/observability", chartRulesFile, generatedRulesFile)
}

// Off by default: no profile renders a PrometheusRule (which needs the
// Prometheus Operator's CRD).
func TestPrometheusRuleOffByDefault(t *testing.T) {
	for _, pc := range profileCases {
		require.Empty(t, prometheusRules(render(t, pc.file, kedaCaps)), pc.file)
	}
}

// Enabled, the chart renders one PrometheusRule that strict-decodes into the
// operator's type, carries the extra labels, and holds exactly the groups of
// the plain rule file, plus one recording rule per connection interval.
func TestPrometheusRule(t *testing.T) {
	plain := plainRuleGroups(t)
	// SecureAgentNoSuccessfulJob reads the record the chart writes, and the
	// file does not record it itself.
	reads, records := false, false
	for _, g := range plain {
		for _, r := range g.Rules {
			reads = reads || strings.Contains(r.Expr.String(), expectedIntervalRecord)
			records = records || r.Record == expectedIntervalRecord
		}
	}
	require.True(t, reads, "no rule of %s reads %s", generatedRulesFile, expectedIntervalRecord)
	require.False(t, records, "%s records %s itself", generatedRulesFile, expectedIntervalRecord)

	t.Run("rules only", func(t *testing.T) {
		objs, err := renderWithRule(t, map[string]any{"enabled": true})
		require.NoError(t, err)
		prs := prometheusRules(objs)
		require.Len(t, prs, 1)
		pr := decodePrometheusRule(t, prs[0])
		require.Equal(t, ReleaseName, pr.Name)
		require.Equal(t, "secure-agent", pr.Labels["app.kubernetes.io/name"])
		require.Equal(t, plain, pr.Spec.Groups)
		// The annotations' templates reach Prometheus as written: Helm did
		// not evaluate them.
		require.Contains(t, pr.Spec.Groups[0].Rules[0].Annotations["description"], "{{ $labels.app }}")
	})

	t.Run("labels and intervals", func(t *testing.T) {
		objs, err := renderWithRule(t, map[string]any{
			"enabled":                  true,
			"labels":                   map[string]any{"release": "prometheus"},
			"expectedSuccessIntervals": map[string]any{"nightly-sales": 93600, "hourly-crm": 7200},
		})
		require.NoError(t, err)
		prs := prometheusRules(objs)
		require.Len(t, prs, 1)
		pr := decodePrometheusRule(t, prs[0])
		require.Equal(t, "prometheus", pr.Labels["release"])
		require.Equal(t, "secure-agent", pr.Labels["app.kubernetes.io/name"])
		require.Len(t, pr.Spec.Groups, len(plain)+1)
		require.Equal(t, plain, pr.Spec.Groups[:len(plain)])
		extra := pr.Spec.Groups[len(plain)]
		require.Equal(t, "secure-agent.expected-success-intervals", extra.Name)
		var got []string
		for _, r := range extra.Rules {
			require.Equal(t, expectedIntervalRecord, r.Record)
			got = append(got, r.Labels["connection"]+"="+r.Expr.String())
		}
		require.Equal(t, []string{"hourly-crm=vector(7200)", "nightly-sales=vector(93600)"}, got)
	})
}

// The decoding above is strict: a field the operator does not know fails.
func TestPrometheusRuleDecodeIsStrict(t *testing.T) {
	objs, err := renderWithRule(t, map[string]any{"enabled": true})
	require.NoError(t, err)
	prs := prometheusRules(objs)
	require.Len(t, prs, 1)
	bad := prs[0]
	bad.JSON = bytes.Replace(bad.JSON, []byte(`"alert":`), []byte(`"severity":"critical","alert":`), 1)
	_, _, err = monitoringSerializer.Decode(bad.JSON, nil, nil)
	require.ErrorContains(t, err, `unknown field "spec.groups[0].rules[0].severity"`)
}

// Bad prometheusRule values are refused by values.schema.json, by name.
func TestPrometheusRuleBadValuesRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule map[string]any
		want string
	}{
		{"enabled not a boolean", map[string]any{"enabled": "yes"}, "/prometheusRule/enabled"},
		{"unknown key", map[string]any{"enabled": true, "namespace": "monitoring"}, "namespace"},
		{"label not a string", map[string]any{"labels": map[string]any{"release": 1}}, "/prometheusRule/labels/release"},
		{"interval as a duration", map[string]any{"expectedSuccessIntervals": map[string]any{"crm": "2h"}}, "/prometheusRule/expectedSuccessIntervals/crm"},
		{"interval too short", map[string]any{"expectedSuccessIntervals": map[string]any{"crm": 5}}, "/prometheusRule/expectedSuccessIntervals/crm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := renderWithRule(t, tc.rule)
			require.Error(t, err)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
