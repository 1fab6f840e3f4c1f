package chart

import (
	"bytes"
	"path/filepath"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	injectorconsts "github.com/dapr/dapr/pkg/injector/consts"
)

func podMonitors(objs []Object) []Object {
	var out []Object
	for _, o := range objs {
		if o.Kind == "PodMonitor" {
			out = append(out, o)
		}
	}
	return out
}

func decodePodMonitor(t *testing.T, o Object) *monitoringv1.PodMonitor {
	t.Helper()
	out, _, err := monitoringSerializer.Decode(o.JSON, nil, nil)
	require.NoError(t, err, "%s: strict decoding into monitoringv1.PodMonitor", o)
	pm, ok := out.(*monitoringv1.PodMonitor)
	require.True(t, ok, "%s decoded into %T", o, out)
	return pm
}

func renderWithPodMonitor(t *testing.T, over map[string]any) ([]Object, error) {
	t.Helper()
	base, err := ReadValuesFile(filepath.Join(profilesDir, "default.yaml"))
	require.NoError(t, err)
	return Render(chartDir, merge(base, over), kedaCaps)
}

// Off by default: no profile renders a PodMonitor (which needs the
// Prometheus Operator's CRD).
func TestPodMonitorOffByDefault(t *testing.T) {
	for _, pc := range profileCases {
		require.Empty(t, podMonitors(render(t, pc.file, kedaCaps)), pc.file)
	}
}

// Enabled, the chart renders one PodMonitor that strict-decodes into the
// operator's type, selects exactly the four app pods, and scrapes, on each,
// the app's "metrics" port (container="app") and the port the Dapr injector
// gives daprd's metrics (container="daprd"), with app = the Dapr app id.
func TestPodMonitor(t *testing.T) {
	objs, err := renderWithPodMonitor(t, map[string]any{
		"podMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}, "interval": "30s"},
		"metrics":    map[string]any{"port": 9500},
	})
	require.NoError(t, err)
	pms := podMonitors(objs)
	require.Len(t, pms, 1)
	pm := decodePodMonitor(t, pms[0])
	require.Equal(t, "prometheus", pm.Labels["release"])
	require.Equal(t, "secure-agent", pm.Labels["app.kubernetes.io/name"])
	require.Empty(t, pm.Spec.NamespaceSelector.MatchNames, "the release's namespace")
	require.False(t, pm.Spec.NamespaceSelector.Any)

	sel, err := metav1.LabelSelectorAsSelector(&pm.Spec.Selector)
	require.NoError(t, err)

	// The endpoints: port name → the container label it sets.
	wantContainer := map[string]string{"metrics": "app", injectorconsts.SidecarMetricsPortName: "daprd"}
	require.Len(t, pm.Spec.PodMetricsEndpoints, len(wantContainer))
	for _, e := range pm.Spec.PodMetricsEndpoints {
		require.NotNil(t, e.Port)
		want, ok := wantContainer[*e.Port]
		require.True(t, ok, "unexpected endpoint port %q", *e.Port)
		require.Equal(t, "/metrics", e.Path)
		require.EqualValues(t, "30s", e.Interval)
		var app, container bool
		for _, r := range e.RelabelConfigs {
			switch r.TargetLabel {
			case "app":
				require.Equal(t, []monitoringv1.LabelName{"__meta_kubernetes_pod_label_app_kubernetes_io_component"}, r.SourceLabels)
				app = true
			case "container":
				require.Empty(t, r.SourceLabels)
				require.NotNil(t, r.Replacement)
				require.Equal(t, want, *r.Replacement)
				container = true
			}
		}
		require.True(t, app && container, "port %s: relabelings %+v", *e.Port, e.RelabelConfigs)
	}

	pods, err := PodTemplates(objs)
	require.NoError(t, err)
	selected := map[string]bool{}
	for _, p := range pods {
		if !sel.Matches(labels.Set(p.Meta.Labels)) {
			continue
		}
		require.Equal(t, "Deployment", p.Object.Kind, "%s is selected", p.Object)
		app := p.Meta.Labels["app.kubernetes.io/component"]
		// The label the relabeling reads is the Dapr app id.
		require.Equal(t, p.Meta.Annotations["dapr.io/app-id"], app)
		selected[app] = true
		pod, err := DefaultInjector(true).Inject(Namespace, p.Meta, p.Spec)
		require.NoError(t, err)
		require.EqualValues(t, 9500, containerPort(t, pod, app, "metrics"))
		require.EqualValues(t, 9090, containerPort(t, pod, injectorconsts.SidecarContainerName, injectorconsts.SidecarMetricsPortName))
		// Every endpoint's port exists on the pod once injected.
		for _, e := range pm.Spec.PodMetricsEndpoints {
			found := false
			for _, c := range pod.Spec.Containers {
				for _, cp := range c.Ports {
					found = found || cp.Name == *e.Port
				}
			}
			require.True(t, found, "%s: no container port %s", p.Object, *e.Port)
		}
	}
	require.Len(t, selected, len(apps), "the PodMonitor selects every app's pods: %v", selected)

	// No interval: none rendered (Prometheus's default).
	objs, err = renderWithPodMonitor(t, map[string]any{"podMonitor": map[string]any{"enabled": true}})
	require.NoError(t, err)
	pms = podMonitors(objs)
	require.Len(t, pms, 1)
	for _, e := range decodePodMonitor(t, pms[0]).Spec.PodMetricsEndpoints {
		require.Empty(t, e.Interval)
	}
	// Strict: a field the operator does not know fails.
	bad := pms[0]
	bad.JSON = bytes.Replace(bad.JSON, []byte(`"path":`), []byte(`"scheme2":"http","path":`), 1)
	_, _, err = monitoringSerializer.Decode(bad.JSON, nil, nil)
	require.ErrorContains(t, err, "unknown field")
}

// Bad podMonitor and metrics values are refused, by name.
func TestPodMonitorAndMetricsBadValuesRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		over map[string]any
		want string
	}{
		{"enabled not a boolean", map[string]any{"podMonitor": map[string]any{"enabled": "yes"}}, "/podMonitor/enabled"},
		{"unknown key", map[string]any{"podMonitor": map[string]any{"enabled": true, "namespace": "monitoring"}}, "namespace"},
		{"interval not a duration", map[string]any{"podMonitor": map[string]any{"interval": "30"}}, "/podMonitor/interval"},
		{"port too low", map[string]any{"metrics": map[string]any{"port": 80}}, "/metrics/port"},
		{"port an app port", map[string]any{"metrics": map[string]any{"port": 6002}}, "/metrics/port"},
		{"port daprd's HTTP port", map[string]any{"metrics": map[string]any{"port": 3500}}, "/metrics/port"},
		{"port a string", map[string]any{"metrics": map[string]any{"port": "9464"}}, "/metrics/port"},
		{"port dapr.metricsPort", map[string]any{"metrics": map[string]any{"port": 9191}, "dapr": map[string]any{"metricsPort": 9191}}, "metrics.port (9191) must differ from dapr.metricsPort"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := renderWithPodMonitor(t, tc.over)
			require.Error(t, err)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
