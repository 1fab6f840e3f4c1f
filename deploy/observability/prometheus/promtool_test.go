package prometheus

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// testsGlob are the promtool unit tests of the production rule file.
const testsGlob = "tests/*.yaml"

// promtool is the promtool binary from $PROMTOOL. Its tests never skip:
// without it they fail saying how to run them.
func promtool(t *testing.T) string {
	t.Helper()
	p := os.Getenv("PROMTOOL")
	if p == "" {
		t.Fatal("PROMTOOL is not set: run `make test-observability` from the repository root, which builds " +
			"bin/promtool (deploy/prom-tools) and passes PROMTOOL=bin/promtool; or set PROMTOOL to a promtool binary")
	}
	if fi, err := os.Stat(p); err != nil || fi.IsDir() {
		t.Fatalf("PROMTOOL=%s is not a promtool binary (%v): run `make promtools`, or point PROMTOOL at one", p, err)
	}
	return p
}

func runPromtool(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run %s: %v", cmd, err)
	}
	return string(out), err
}

// promtool checks both rule files, lint included.
func TestPromtoolCheckRules(t *testing.T) {
	out, err := runPromtool(t, "check", "rules", "--lint=all", "--lint-fatal", ruleFile, e2eRuleFile)
	require.NoError(t, err, "promtool check rules:\n%s", out)
	t.Log(out)
}

// Every unit test in tests/ passes.
func TestPromtoolTestRules(t *testing.T) {
	files, err := filepath.Glob(testsGlob)
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out, err := runPromtool(t, append([]string{"test", "rules"}, files...)...)
	require.NoError(t, err, "promtool test rules:\n%s", out)
	t.Log(out)
}

// A failing expectation fails promtool: the run above would see a wrong one.
func TestPromtoolTestRulesFails(t *testing.T) {
	out, err := runPromtool(t, "test", "rules", "testdata/wrong-expectation.yaml")
	require.Error(t, err, "promtool accepted a test that expects a firing alert to stay silent:\n%s", out)
	require.Contains(t, out, "SecureAgentAppDown")
}

// promtoolTests is the part of a promtool test file the coverage check reads.
type promtoolTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			EvalTime  string `yaml:"eval_time"`
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `yaml:"exp_labels"`
				ExpAnnotations map[string]string `yaml:"exp_annotations"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// coverage reads test files and returns, per alert name, whether a case
// expects it to fire and whether one expects it silent; problems lists
// what the files get wrong.
func coverage(files []string, alerts map[string]Rule) (firing, silent map[string]bool, problems []string) {
	firing, silent = map[string]bool{}, map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		var pt promtoolTests
		if err := yaml.Unmarshal(data, &pt); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", f, err))
			continue
		}
		if !slices.Equal(pt.RuleFiles, []string{"../" + ruleFile}) {
			problems = append(problems, fmt.Sprintf("%s: rule_files is %v, want [../%s]", f, pt.RuleFiles, ruleFile))
		}
		for _, tc := range pt.Tests {
			for _, at := range tc.AlertRuleTest {
				where := fmt.Sprintf("%s: %q at %s", f, at.Alertname, at.EvalTime)
				rule, ok := alerts[at.Alertname]
				if !ok {
					problems = append(problems, where+": not an alert of "+ruleFile)
					continue
				}
				if len(at.ExpAlerts) == 0 {
					silent[at.Alertname] = true
					continue
				}
				firing[at.Alertname] = true
				for _, ea := range at.ExpAlerts {
					if ea.ExpLabels["severity"] != rule.Labels["severity"] {
						problems = append(problems, fmt.Sprintf("%s: exp_labels.severity is %q, the rule's %q", where, ea.ExpLabels["severity"], rule.Labels["severity"]))
					}
					for _, k := range []string{"summary", "description", "runbook_url"} {
						if ea.ExpAnnotations[k] == "" {
							problems = append(problems, fmt.Sprintf("%s: exp_annotations.%s missing", where, k))
						}
					}
				}
			}
		}
	}
	return firing, silent, problems
}

// productionAlerts are the alerting rules of the production file by name.
func productionAlerts() map[string]Rule {
	out := map[string]Rule{}
	for _, g := range Rules(Production).Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out[r.Alert] = r
			}
		}
	}
	return out
}

// Every alert has a case where it fires (with its labels and annotations)
// and one where it does not; the tests name no other alert.
func TestEveryAlertHasFiringAndSilentCases(t *testing.T) {
	files, err := filepath.Glob(testsGlob)
	require.NoError(t, err)
	require.NotEmpty(t, files)
	alerts := productionAlerts()
	firing, silent, problems := coverage(files, alerts)
	for name := range alerts {
		if !firing[name] {
			problems = append(problems, name+": no case where it fires")
		}
		if !silent[name] {
			problems = append(problems, name+": no case where it stays silent")
		}
	}
	slices.Sort(problems)
	require.Empty(t, problems, "%s", strings.Join(problems, "\n"))
}

// The coverage check sees a missing case and an unknown alert.
func TestCoverageCheckCatchesGaps(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "t.yaml")
	require.NoError(t, os.WriteFile(f, []byte(`rule_files: [../secure-agent.rules.yaml]
tests:
  - alert_rule_test:
      - {eval_time: 1m, alertname: SecureAgentAppDown, exp_alerts: []}
      - {eval_time: 1m, alertname: SecureAgentAppDwn, exp_alerts: []}
      - eval_time: 9m
        alertname: SecureAgentSidecarDown
        exp_alerts: [{exp_labels: {severity: warning}}]
`), 0o644))
	firing, silent, problems := coverage([]string{f}, productionAlerts())
	require.True(t, silent["SecureAgentAppDown"])
	require.False(t, firing["SecureAgentAppDown"])
	require.True(t, firing["SecureAgentSidecarDown"])
	joined := strings.Join(problems, "\n")
	require.Contains(t, joined, `"SecureAgentAppDwn" at 1m: not an alert`)
	require.Contains(t, joined, `exp_labels.severity is "warning", the rule's "critical"`)
	require.Contains(t, joined, "exp_annotations.runbook_url missing")
}
