package chart

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

// The dashboards as deploy/observability/grafana generates them; the
// chart's copies in files/dashboards/ must render unchanged.
const generatedDashboards = "../../observability/grafana"

// generatedBoards maps each generated dashboard's name to its JSON.
func generatedBoards(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(generatedDashboards, "*.json"))
	require.NoError(t, err)
	out := map[string][]byte{}
	for _, f := range files {
		if filepath.Base(f) == "queries.json" {
			continue // the e2e test's list of queries, not a dashboard
		}
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = b
	}
	require.NotEmpty(t, out, "no dashboards in %s", generatedDashboards)
	return out
}

func renderWithDashboards(t *testing.T, dashboards map[string]any) ([]Object, error) {
	t.Helper()
	base, err := ReadValuesFile(filepath.Join(profilesDir, "default.yaml"))
	require.NoError(t, err)
	return Render(chartDir, merge(base, map[string]any{"grafana": map[string]any{"dashboards": dashboards}}), kedaCaps)
}

// dashboardConfigMaps decodes (strictly) the ConfigMaps among objs that
// carry label.
func dashboardConfigMaps(t *testing.T, objs []Object, label string) []*corev1.ConfigMap {
	t.Helper()
	var out []*corev1.ConfigMap
	for _, o := range objs {
		if o.Kind != "ConfigMap" {
			continue
		}
		d, err := Decode(o)
		require.NoError(t, err)
		cm := d.(*corev1.ConfigMap)
		if _, ok := cm.Labels[label]; ok {
			out = append(out, cm)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// With grafana.dashboards.enabled the chart renders one ConfigMap per
// generated dashboard, labelled grafana_dashboard: "1" for Grafana's
// sidecar, with the folder annotation, holding the JSON byte for byte.
func TestDashboardConfigMaps(t *testing.T) {
	want := generatedBoards(t)
	objs, err := renderWithDashboards(t, map[string]any{"enabled": true})
	require.NoError(t, err)
	_, err = DecodeAll(objs)
	require.NoError(t, err)
	cms := dashboardConfigMaps(t, objs, "grafana_dashboard")
	require.Len(t, cms, len(want), "one ConfigMap per dashboard of %s", generatedDashboards)
	got := map[string]bool{}
	for _, cm := range cms {
		require.Equal(t, "1", cm.Labels["grafana_dashboard"], cm.Name)
		require.Equal(t, "secure-agent", cm.Annotations["grafana_folder"], cm.Name)
		require.Equal(t, "secure-agent", cm.Labels["app.kubernetes.io/name"], cm.Name)
		require.Empty(t, cm.Namespace, "%s: the release's namespace unless grafana.dashboards.namespace is set", cm.Name)
		name := strings.TrimPrefix(cm.Name, ReleaseName+"-dashboard-")
		require.Contains(t, want, name, "ConfigMap %s names no generated dashboard", cm.Name)
		require.Len(t, cm.Data, 1, cm.Name)
		data, ok := cm.Data["secure-agent-"+name+".json"]
		require.True(t, ok, "%s: data key secure-agent-%s.json", cm.Name, name)
		require.True(t, json.Valid([]byte(data)), cm.Name)
		require.Equal(t, string(want[name]), data, "%s: the chart's files/dashboards/%s.json is not the generated one (deploy/observability: go test ./grafana -update)", cm.Name, name)
		got[name] = true
	}
	require.Len(t, got, len(want))
}

// Off by default; label, value, folder annotation and namespace follow
// the values.
func TestDashboardConfigMapValues(t *testing.T) {
	objs, err := renderWithDashboards(t, map[string]any{})
	require.NoError(t, err)
	require.Empty(t, dashboardConfigMaps(t, objs, "grafana_dashboard"), "grafana.dashboards.enabled is false by default")

	objs, err = renderWithDashboards(t, map[string]any{
		"enabled": true, "label": "example.com/dashboard", "labelValue": "yes",
		"folderAnnotation": "", "namespace": "monitoring",
	})
	require.NoError(t, err)
	require.Empty(t, dashboardConfigMaps(t, objs, "grafana_dashboard"))
	cms := dashboardConfigMaps(t, objs, "example.com/dashboard")
	require.Len(t, cms, len(generatedBoards(t)))
	for _, cm := range cms {
		require.Equal(t, "yes", cm.Labels["example.com/dashboard"])
		require.Empty(t, cm.Annotations, "no folder annotation when folderAnnotation is empty")
		require.Equal(t, "monitoring", cm.Namespace)
	}
}

// values.schema.json refuses what would make an invalid label.
func TestDashboardValuesRefused(t *testing.T) {
	for name, v := range map[string]map[string]any{
		"empty label":     {"enabled": true, "label": ""},
		"label with sp":   {"enabled": true, "label": "grafana dashboard"},
		"bad label value": {"enabled": true, "labelValue": "not ok"},
		"unknown key":     {"enabled": true, "folders": "x"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := renderWithDashboards(t, v)
			require.Error(t, err)
			require.Contains(t, err.Error(), "/grafana/dashboards")
		})
	}
}
