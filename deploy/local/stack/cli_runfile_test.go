package stack

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// The Dapr CLI cannot run here, so this checks deploy/local/dapr.yaml
// against what the CLI would need: the same apps as the launcher, files
// that exist, and dapr.env setting every variable the components read.
func TestDaprCLIRunFileMatchesTheStack(t *testing.T) {
	here := "../" // deploy/local
	var rf struct {
		Version int `yaml:"version"`
		Common  struct {
			ResourcesPath string `yaml:"resourcesPath"`
		} `yaml:"common"`
		Apps []struct {
			AppID          string   `yaml:"appID"`
			AppDirPath     string   `yaml:"appDirPath"`
			AppPort        int      `yaml:"appPort"`
			ConfigFilePath string   `yaml:"configFilePath"`
			Command        []string `yaml:"command"`
		} `yaml:"apps"`
	}
	b, err := os.ReadFile(filepath.Join(here, "dapr.yaml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, &rf))
	require.Equal(t, 1, rf.Version)
	require.DirExists(t, filepath.Join(here, rf.Common.ResourcesPath))

	var ids []string
	ports := map[int]bool{}
	for _, a := range rf.Apps {
		ids = append(ids, a.AppID)
		require.False(t, ports[a.AppPort], "app port %d used twice", a.AppPort)
		ports[a.AppPort] = true
		cfg := filepath.Join(here, a.ConfigFilePath)
		require.FileExists(t, cfg)
		c, err := os.ReadFile(cfg)
		require.NoError(t, err)
		var conf struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
			Spec map[string]any `yaml:"spec"`
		}
		require.NoError(t, yaml.Unmarshal(c, &conf))
		require.Equal(t, "Configuration", conf.Kind)
		require.Equal(t, a.AppID, conf.Metadata.Name)
		require.Contains(t, conf.Spec, "secrets", "%s: secret scopes must hold under the CLI too", cfg)
		require.Len(t, a.Command, 1)
		require.Equal(t, "./bin/"+a.AppID, a.Command[0], "the binary `make build` produces")
		require.DirExists(t, filepath.Join(here, a.AppDirPath, "services", a.AppID))
	}
	want := append([]string(nil), Apps...)
	sort.Strings(want)
	sort.Strings(ids)
	require.Equal(t, want, ids)

	f, err := os.Open(filepath.Join(here, "dapr.env"))
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
		require.True(t, ok, "dapr.env line %q", line)
		keys = append(keys, k)
	}
	var need []string
	for k := range (&Stack{}).componentEnv() {
		if k != "SA_NATS_URL" && k != "SA_STATE_DB" && k != "SA_HEALTH_STATE_DB" { // local profile only
			need = append(need, k)
		}
	}
	sort.Strings(keys)
	sort.Strings(need)
	require.Equal(t, need, keys)
	_, err = validateComponents(filepath.Join(here, rf.Common.ResourcesPath), envOf(keys))
	require.NoError(t, err)
}

func envOf(keys []string) map[string]string {
	m := map[string]string{}
	for _, k := range keys {
		m[k] = ""
	}
	return m
}
