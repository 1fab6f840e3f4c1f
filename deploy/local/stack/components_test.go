package stack

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// repoComponents is the repository's components/ directory.
func repoComponents(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "components"))
	require.NoError(t, err)
	require.DirExists(t, dir)
	return dir
}

// launcherEnv is the environment the launcher really gives daprd.
func launcherEnv(t *testing.T) map[string]string {
	t.Helper()
	s := &Stack{opts: Options{DataDir: t.TempDir(), PortBase: 17000, RedisHost: "127.0.0.1:6379", RedisDB: 3}}
	return s.componentEnv()
}

func TestValidateRepositoryComponents(t *testing.T) {
	tests := []struct {
		profile   string
		wantTypes map[string]string
	}{
		{"local", map[string]string{
			"destination": "bindings.localstorage", "pubsub": "pubsub.jetstream", "secrets": "secretstores.local.file",
			"staging": "bindings.localstorage", "statestore": "state.sqlite", "healthstore": "state.sqlite",
		}},
		{"redis", map[string]string{
			"destination": "bindings.localstorage", "pubsub": "pubsub.redis", "secrets": "secretstores.local.file",
			"staging": "bindings.localstorage", "statestore": "state.redis", "healthstore": "state.redis",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.profile, func(t *testing.T) {
			dir := filepath.Join(repoComponents(t), tt.profile)
			comps, err := validateComponents(dir, launcherEnv(t))
			require.NoError(t, err)
			got := map[string]string{}
			for _, c := range comps {
				got[c.Name] = c.Type
				require.Equal(t, dir, filepath.Dir(c.File))
				require.True(t, strings.HasSuffix(c.File, ".yaml"))
			}
			require.Equal(t, tt.wantTypes, got)

			// Every service that talks to the broker loads the pub/sub component.
			for _, c := range comps {
				if c.Name == "pubsub" {
					for _, a := range Apps {
						require.True(t, c.loadedBy(a), "%s must load pubsub", a)
					}
				}
			}
		})
	}
}

func TestRepositoryComponentsNeedLauncherEnv(t *testing.T) {
	// With nothing set, every envRef is reported: the check really reads env.
	_, err := validateComponents(filepath.Join(repoComponents(t), "local"), map[string]string{})
	require.Error(t, err)
	for _, v := range []string{"SA_NATS_URL", "SA_STATE_DB", "SA_SECRETS_FILE", "SA_STAGING_DIR", "SA_DESTINATION_DIR"} {
		require.Contains(t, err.Error(), v)
	}
}

const validPubsub = `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.jetstream
  version: v1
  metadata:
    - name: natsURL
      envRef: SA_NATS_URL
    - name: durableName
      value: "{appID}"
    - name: token
      secretKeyRef:
        name: nats-token
        key: token
scopes: [orchestrator, health]
`

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
	return dir
}

func TestValidateComponentsAcceptsValidFile(t *testing.T) {
	dir := writeFiles(t, map[string]string{"pubsub.yaml": validPubsub, "notes.txt": "not a component", "readme.md": "# x"})
	comps, err := validateComponents(dir, map[string]string{"SA_NATS_URL": "nats://127.0.0.1:4222"})
	require.NoError(t, err)
	require.Equal(t, []Component{{
		Name: "pubsub", Type: "pubsub.jetstream", File: filepath.Join(dir, "pubsub.yaml"),
		Scopes: []string{"orchestrator", "health"},
	}}, comps)
}

func TestValidateComponentsReportsBrokenFiles(t *testing.T) {
	replace := func(old, new string) string {
		require.Contains(t, validPubsub, old)
		return strings.Replace(validPubsub, old, new, 1)
	}
	tests := []struct {
		name    string
		content string
		want    []string
	}{
		{"invalid YAML", "apiVersion: dapr.io/v1alpha1\nkind: [Component\n", []string{"not valid YAML"}},
		{"not a mapping", "- just\n- a list\n", []string{"not valid YAML"}},
		{"wrong kind", replace("kind: Component", "kind: Configuration"), []string{`kind must be Component (got "Configuration")`}},
		{"wrong apiVersion", replace("dapr.io/v1alpha1", "dapr.io/v1"), []string{`apiVersion must be dapr.io/v1alpha1 (got "dapr.io/v1")`}},
		{"missing name", replace("  name: pubsub\n", ""), []string{"metadata.name is missing"}},
		{"missing spec.type", replace("  type: pubsub.jetstream\n", ""), []string{`spec.type must look like pubsub.jetstream or state.sqlite (got "")`}},
		{"spec.type without dot", replace("type: pubsub.jetstream", "type: jetstream"), []string{`(got "jetstream")`}},
		{"missing version", replace("  version: v1\n", ""), []string{"spec.version is missing"}},
		{"value and envRef", replace("      envRef: SA_NATS_URL\n", "      envRef: SA_NATS_URL\n      value: nats://x\n"),
			[]string{`spec.metadata "natsURL" needs exactly one of value, envRef or secretKeyRef`}},
		{"no value at all", replace("      envRef: SA_NATS_URL\n", ""),
			[]string{`spec.metadata "natsURL" needs exactly one of value, envRef or secretKeyRef`}},
		{"envRef to unknown variable", replace("envRef: SA_NATS_URL", "envRef: SA_NATS_ADDR"),
			[]string{`spec.metadata "natsURL" reads environment variable SA_NATS_ADDR, which the launcher does not set`}},
		{"metadata entry without name", replace("    - name: durableName\n      value: \"{appID}\"\n", "    - value: \"{appID}\"\n"),
			[]string{"spec.metadata[1] has no name"}},
		{"several problems in one file", "apiVersion: v9\nkind: Secret\n", []string{
			`apiVersion must be dapr.io/v1alpha1 (got "v9")`, `kind must be Component (got "Secret")`,
			"metadata.name is missing", "spec.version is missing",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"broken.yaml": tt.content})
			comps, err := validateComponents(dir, map[string]string{"SA_NATS_URL": "nats://127.0.0.1:4222"})
			require.Nil(t, comps)
			require.Error(t, err)
			msg := err.Error()
			require.Contains(t, msg, filepath.Join(dir, "broken.yaml")+": ", "names the file")
			for _, w := range tt.want {
				require.Contains(t, msg, w)
			}
		})
	}
}

func TestValidateComponentsReportsEveryBrokenFileAtOnce(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a-ok.yaml":     validPubsub,
		"b-kind.yaml":   strings.Replace(validPubsub, "kind: Component", "kind: Nope", 1),
		"c-syntax.yaml": "kind: [",
		"d-env.yaml":    strings.Replace(strings.Replace(validPubsub, "name: pubsub", "name: other", 1), "SA_NATS_URL", "SA_MISSING", 1),
	})
	_, err := validateComponents(dir, map[string]string{"SA_NATS_URL": "x"})
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n  - ")
	require.Equal(t, "broken component files:", lines[0])
	require.Len(t, lines, 4, "one line per broken file: %s", err)
	require.True(t, strings.HasPrefix(lines[1], filepath.Join(dir, "b-kind.yaml")+": "), lines[1])
	require.True(t, strings.HasPrefix(lines[2], filepath.Join(dir, "c-syntax.yaml")+": not valid YAML"), lines[2])
	require.True(t, strings.HasPrefix(lines[3], filepath.Join(dir, "d-env.yaml")+": "), lines[3])
	require.Contains(t, lines[3], "SA_MISSING")
	require.NotContains(t, err.Error(), "a-ok.yaml")
}

func TestValidateComponentsDuplicateNames(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.yaml": validPubsub, "b.yaml": validPubsub})
	_, err := validateComponents(dir, map[string]string{"SA_NATS_URL": "x"})
	require.Error(t, err)
	require.Contains(t, err.Error(), filepath.Join(dir, "b.yaml")+`: component name "pubsub" is already used by `+filepath.Join(dir, "a.yaml"))
}

func TestValidateComponentsEmptyDirectory(t *testing.T) {
	for name, dir := range map[string]string{
		"empty":         t.TempDir(),
		"no yaml files": writeFiles(t, map[string]string{"x.json": "{}", "notes.txt": "hi"}),
		"missing":       filepath.Join(t.TempDir(), "nope"),
	} {
		t.Run(name, func(t *testing.T) {
			comps, err := validateComponents(dir, nil)
			require.Nil(t, comps)
			require.ErrorContains(t, err, "no component files (*.yaml, *.yml) in "+dir)
		})
	}
}

// daprd loads .yml as well as .yaml, so the launcher must check both.
func TestValidateComponentsReadsYmlFiles(t *testing.T) {
	dir := writeFiles(t, map[string]string{"pubsub.yml": validPubsub})
	comps, err := validateComponents(dir, map[string]string{"SA_NATS_URL": "x"})
	require.NoError(t, err)
	require.Len(t, comps, 1)
	require.Equal(t, filepath.Join(dir, "pubsub.yml"), comps[0].File)
	_, err = validateComponents(dir, nil)
	require.ErrorContains(t, err, "pubsub.yml")
}

func TestComponentLoadedBy(t *testing.T) {
	tests := []struct {
		name   string
		scopes []string
		loaded []string
	}{
		{"no scopes: every app", nil, Apps},
		{"empty scopes: every app", []string{}, Apps},
		{"one app", []string{"publisher"}, []string{"publisher"}},
		{"two apps", []string{"extractor", "publisher"}, []string{"extractor", "publisher"}},
		{"unknown app only", []string{"someone-else"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Component{Name: "x", Type: "state.sqlite", Scopes: tt.scopes}
			var got []string
			for _, a := range append(append([]string(nil), Apps...), "someone") {
				if c.loadedBy(a) {
					got = append(got, a)
				}
			}
			want := append([]string(nil), tt.loaded...)
			if len(tt.scopes) == 0 {
				want = append(want, "someone")
			}
			sort.Strings(got)
			sort.Strings(want)
			require.Equal(t, want, got)
		})
	}
}
