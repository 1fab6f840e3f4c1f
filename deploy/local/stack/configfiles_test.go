package stack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRepositoryConfigurationsAreValid(t *testing.T) {
	dir := filepath.Join(repoComponents(t), "config")
	require.NoError(t, validateConfigurations(dir))
	for _, a := range Apps {
		c, err := LoadConfiguration(filepath.Join(dir, a+".yaml"))
		require.NoError(t, err)
		require.Equal(t, a, c.Metadata.Name)
		nr := c.Spec.NameResolution
		require.NotNil(t, nr, "%s resolves app ids through SQLite", a)
		require.Equal(t, "sqlite", nr.Component)
		// The margins the resolver's renewal needs (ADR 0002), set explicitly.
		for _, k := range []string{"updateInterval", "timeout", "cleanupInterval", "connectionString"} {
			require.NotEmpty(t, nr.Configuration[k], "%s: nameResolution.configuration.%s", a, k)
		}
		require.Equal(t, "deny", c.Spec.AccessControl.DefaultAction)
	}
}

func TestBrokenConfigurationsNameFileLineAndReason(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(repoComponents(t), "config", "extractor.yaml"))
	require.NoError(t, err)
	tests := []struct {
		name string
		edit func(string) string
		want []string
	}{
		{"bad indentation", func(s string) string {
			return strings.Replace(s, "  accessControl:\n    defaultAction: deny", "  accessControl:\n  defaultAction: deny\n    trustDomain: x", 1)
		}, []string{"not valid YAML: line"}},
		{"misspelled block", func(s string) string { return strings.Replace(s, "  accessControl:", "  acessControl:", 1) },
			[]string{"spec.acessControl is not a Dapr Configuration field, so daprd would ignore it", "line "}},
		{"a component instead", func(s string) string { return strings.Replace(s, "kind: Configuration", "kind: Component", 1) },
			[]string{`kind must be Configuration (got "Component")`}},
		{"wrong type", func(s string) string {
			return strings.Replace(s, "        deniedSecrets: [controlplane-client-id, controlplane-client-secret, audit-signing-key]", "        deniedSecrets: {a: b}", 1)
		}, []string{"line ", "cannot unmarshal !!map into []string"}},
		{"bad action", func(s string) string {
			return strings.Replace(s, "            action: allow", "            action: permit", 1)
		},
			[]string{`spec.accessControl.policies[0].operations[0].action must be allow or deny (got "permit")`}},
		{"policy without namespace", func(s string) string { return strings.Replace(s, "        namespace: default\n", "", 1) },
			[]string{"spec.accessControl.policies[0] needs appId, trustDomain and namespace"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			broken := tt.edit(string(good))
			require.NotEqual(t, string(good), broken, "the edit applies")
			dir := t.TempDir()
			f := filepath.Join(dir, "extractor.yaml")
			require.NoError(t, os.WriteFile(f, []byte(broken), 0o600))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "health.yaml"), []byte("kind: Configuration\n"), 0o600))
			err := validateConfigurations(dir)
			require.Error(t, err)
			require.Contains(t, err.Error(), f+": ")
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
			require.Contains(t, err.Error(), filepath.Join(dir, "health.yaml")+": apiVersion must be dapr.io/v1alpha1", "every broken file is reported at once")
		})
	}
}
