package tools

import (
	"bufio"
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/dapr/cli/pkg/runfileconfig"
	"github.com/dapr/dapr/pkg/components/loader"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// TestRunFileAsTheCLIReadsIt reads deploy/local/dapr.yaml with the Dapr
// CLI's own parser (what `dapr run -f` calls before it starts anything),
// so a path the CLI resolves differently from what the file's author
// meant fails here. The end-to-end run is e2e's TestDaprCLIRunFile.
func TestRunFileAsTheCLIReadsIt(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	runFile := filepath.Join(root, "deploy", "local", "dapr.yaml")

	var rf runfileconfig.RunFileConfig
	// GetApps resolves every path (app paths against appDirPath) and fails
	// on one that does not exist, as `dapr run -f` does.
	apps, err := rf.GetApps(runFile)
	require.NoError(t, err, "dapr run -f %s fails the same way", runFile)
	require.Equal(t, 1, rf.Version)

	var ids []string
	ports := map[int]string{}
	envRefs := map[string]bool{}
	for _, a := range apps {
		id := a.AppID
		ids = append(ids, id)
		require.Equal(t, root, a.AppDirPath, "%s: daprd and the app run in appDirPath; dapr.env's ./data paths assume the repository root", id)
		require.Equal(t, []string{filepath.Join(root, "components", "redis")}, a.ResourcesPaths, "%s: the redis profile's components", id)
		require.Equal(t, filepath.Join(root, "components", "config", "dapr-cli", id+".yaml"), a.ConfigFile,
			"%s: the CLI's Configuration (no Sentry, so no access control)", id)
		checkConfig(t, id, a.ConfigFile)

		require.Equal(t, []string{"./bin/" + id}, a.Command, "%s: the binary `make build` produces", id)
		require.DirExists(t, filepath.Join(a.AppDirPath, "services", id, "cmd", id))
		require.True(t, a.EnableAppHealth, id)
		require.Equal(t, "/healthz", a.AppHealthPath, id)
		require.Equal(t, "127.0.0.1", a.APIListenAddresses, "%s: the sidecar APIs stay on loopback", id)
		// Empty: the header tells people to choose daprd with DAPR_RUNTIME_PATH
		// (their `dapr init` one or this repository's bin/), and placement and
		// scheduler on the CLI's defaults, localhost:50005 and :50006.
		require.Empty(t, a.DaprdInstallPath, "%s: runtimePath would force one daprd on everybody", id)
		require.Nil(t, a.PlacementHostAddr, "%s: the header's placement is on the CLI's default address", id)
		require.Nil(t, a.SchedulerHostAddress, "%s: the header's scheduler is on the CLI's default address", id)
		for k := range a.Env {
			require.NotContains(t, strings.ToUpper(k), "TOKEN", "%s: tokens come from the shell, never from this file", id)
		}
		// Fixed ports: the header's agentctl URL and the e2e test rely on them.
		for what, p := range map[string]int{"appPort": a.AppPort, "daprHTTPPort": a.HTTPPort, "daprGRPCPort": a.GRPCPort} {
			require.Positive(t, p, "%s: %s must be fixed", id, what)
			// Linux hands out 32768-60999 to outgoing connections: a fixed
			// port there is sometimes held by one (it failed the e2e test).
			require.Less(t, p, 32768, "%s: %s %d is in the ephemeral port range", id, what, p)
			require.NotContains(t, ports, p, "%s: %s %d is already %s", id, what, p, ports[p])
			ports[p] = id + " " + what
		}

		// The CLI validates the components with daprd's own loader before it
		// starts the sidecar; this also filters them by the app's scopes.
		comps, err := loader.NewLocalLoader(id, a.ResourcesPaths).Load(context.Background())
		require.NoError(t, err, id)
		require.NotEmpty(t, comps, id)
		for _, c := range comps {
			for _, m := range c.Spec.Metadata {
				if m.EnvRef != "" {
					envRefs[m.EnvRef] = true
				}
			}
		}
	}
	require.Equal(t, "http://127.0.0.1:"+strconv.Itoa(apps[0].AppPort), orchestratorURL(t, runFile), "the header's SA_ORCHESTRATOR_URL")
	require.Equal(t, "orchestrator", apps[0].AppID)

	want := launcherApps(t, filepath.Join(root, "deploy", "local", "stack", "ports.go"))
	sort.Strings(want)
	sort.Strings(ids)
	require.Equal(t, want, ids, "the run file starts the launcher's apps")

	// daprd inherits the shell's environment, which the header fills from
	// dapr.env: it must set exactly what the components read.
	var need []string
	for k := range envRefs {
		need = append(need, k)
	}
	sort.Strings(need)
	require.Equal(t, need, envKeys(t, filepath.Join(root, "deploy", "local", "dapr.env")))
}

// checkConfig: a Configuration named after the app, secret scopes on, and
// nothing that needs Sentry (mTLS makes the CLI add --enable-mtls with a
// Sentry on localhost:50001; access control needs mTLS identities).
func checkConfig(t *testing.T, id, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	var conf struct {
		Kind     string `yaml:"kind"`
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Spec struct {
			Secrets struct {
				Scopes []struct {
					StoreName     string `yaml:"storeName"`
					DefaultAccess string `yaml:"defaultAccess"`
				} `yaml:"scopes"`
			} `yaml:"secrets"`
			MTLS          map[string]any `yaml:"mtls"`
			AccessControl map[string]any `yaml:"accessControl"`
		} `yaml:"spec"`
	}
	require.NoError(t, yaml.Unmarshal(b, &conf), file)
	require.Equal(t, "Configuration", conf.Kind, file)
	require.Equal(t, id, conf.Metadata.Name, file)
	require.NotEmpty(t, conf.Spec.Secrets.Scopes, "%s: secret scopes must hold under the CLI too", file)
	for _, s := range conf.Spec.Secrets.Scopes {
		require.Equal(t, "secrets", s.StoreName, file)
		require.NotEmpty(t, s.DefaultAccess, file)
	}
	require.Nil(t, conf.Spec.MTLS, "%s: the CLI starts no Sentry", file)
	require.Nil(t, conf.Spec.AccessControl, "%s: no identities without Sentry", file)
}

// launcherApps reads `var Apps = []string{...}` from the launcher's source:
// importing it would pull the workspace's modules into this one.
func launcherApps(t *testing.T, file string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	require.NoError(t, err)
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.VAR {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if len(vs.Names) != 1 || vs.Names[0].Name != "Apps" || len(vs.Values) != 1 {
				continue
			}
			lit, ok := vs.Values[0].(*ast.CompositeLit)
			require.True(t, ok, "%s: Apps is not a literal", file)
			var out []string
			for _, e := range lit.Elts {
				b, ok := e.(*ast.BasicLit)
				require.True(t, ok && b.Kind == token.STRING, "%s: Apps holds a non-string", file)
				v, err := strconv.Unquote(b.Value)
				require.NoError(t, err)
				out = append(out, v)
			}
			return out
		}
	}
	t.Fatalf("%s declares no Apps", file)
	return nil
}

func envKeys(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	var keys []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		require.True(t, ok, "%s: line %q", file, line)
		keys = append(keys, k)
	}
	require.NoError(t, sc.Err())
	sort.Strings(keys)
	return keys
}

// orchestratorURL is the SA_ORCHESTRATOR_URL the run file's header gives.
func orchestratorURL(t *testing.T, runFile string) string {
	t.Helper()
	b, err := os.ReadFile(runFile)
	require.NoError(t, err)
	for _, f := range strings.Fields(string(b)) {
		if v, ok := strings.CutPrefix(f, "SA_ORCHESTRATOR_URL="); ok {
			return v
		}
	}
	t.Fatalf("%s: the header names no SA_ORCHESTRATOR_URL", runFile)
	return ""
}
