package chart

import (
	"bytes"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	injectorconsts "github.com/dapr/dapr/pkg/injector/consts"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// The OpenMetrics check configuration deploy/observability/datadog
// generates (the dashboard and monitors there query the metrics these
// checks submit) and the chart's copy, which its Deployment template reads.
const (
	generatedChecks = "../../observability/datadog/checks.json"
	chartChecks     = "files/datadog/checks.json"
	adPrefix        = "ad.datadoghq.com/"
)

// ddInstance is an instance of the Datadog Agent's OpenMetrics (v2) check
// with the options the chart sets; decoding into it is strict, so a
// misspelt or unexpected option fails.
type ddInstance struct {
	OpenMetricsEndpoint              string   `json:"openmetrics_endpoint"`
	Namespace                        string   `json:"namespace"`
	RawMetricPrefix                  string   `json:"raw_metric_prefix"`
	Metrics                          []any    `json:"metrics"`
	HistogramBucketsAsDistributions  bool     `json:"histogram_buckets_as_distributions"`
	CollectCountersWithDistributions bool     `json:"collect_counters_with_distributions"`
	Tags                             []string `json:"tags"`
}

// ddChecks is the value of an ad.datadoghq.com/<container>.checks
// annotation (Autodiscovery v2): integration name → init_config, instances.
type ddChecks struct {
	OpenMetrics *struct {
		InitConfig map[string]any `json:"init_config"`
		Instances  []ddInstance   `json:"instances"`
	} `json:"openmetrics"`
}

func decodeStrictJSON(data string, v any) error {
	dec := json.NewDecoder(strings.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func renderWithDatadog(t *testing.T, over map[string]any) ([]Object, error) {
	t.Helper()
	base, err := ReadValuesFile(filepath.Join(profilesDir, "default.yaml"))
	require.NoError(t, err)
	return Render(chartDir, merge(base, over), kedaCaps)
}

// adAnnotations returns a pod's Datadog Autodiscovery annotations.
func adAnnotations(meta map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range meta {
		if strings.HasPrefix(k, adPrefix) {
			out[k] = v
		}
	}
	return out
}

// The generated daprd check, as a generic value, without what the chart
// fills in per pod.
func generatedDaprdCheck(t *testing.T) map[string]any {
	t.Helper()
	return generatedCheck(t, "daprd")
}

func generatedCheck(t *testing.T, name string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(generatedChecks)
	require.NoError(t, err)
	chartCopy, err := os.ReadFile(filepath.Join(chartDir, chartChecks))
	require.NoError(t, err)
	require.True(t, bytes.Equal(raw, chartCopy), "the chart's %s is not the generated one (deploy/observability: go test ./datadog -update)", chartChecks)
	var checks map[string]map[string]any
	require.NoError(t, json.Unmarshal(raw, &checks))
	require.Contains(t, checks, name)
	return checks[name]
}

// With datadog.enabled every app pod carries an OpenMetrics check for its
// injected daprd container (and one for the app: TestDatadogAppCheck), whose endpoint is daprd's metrics port at the
// pod's address, tagged with the app and the container, and otherwise the
// generated configuration.
func TestDatadogAnnotations(t *testing.T) {
	want := generatedDaprdCheck(t)
	for _, port := range []int{9090, 9191} {
		t.Run(strconv.Itoa(port), func(t *testing.T) {
			objs, err := renderWithDatadog(t, map[string]any{
				"datadog": map[string]any{"enabled": true, "tags": []any{"env:prod", "team:data"}},
				"dapr":    map[string]any{"metricsPort": port},
			})
			require.NoError(t, err)
			_, err = DecodeAll(objs)
			require.NoError(t, err)
			pods, err := PodTemplates(objs)
			require.NoError(t, err)
			seen := map[string]bool{}
			for _, p := range pods {
				if p.Object.Kind != "Deployment" {
					continue
				}
				app := p.Meta.Labels["app.kubernetes.io/component"]
				seen[app] = true
				ads := adAnnotations(p.Meta.Annotations)
				require.Len(t, ads, 2, "%s: two Autodiscovery annotations, for the app and daprd (%v)", p.Object, ads)
				require.Contains(t, ads, adPrefix+app+".checks", "%s: annotations %v", p.Object, ads)
				value, ok := ads[adPrefix+injectorconsts.SidecarContainerName+".checks"]
				require.True(t, ok, "%s: annotations %v", p.Object, ads)

				var checks ddChecks
				require.NoError(t, decodeStrictJSON(value, &checks), "%s: %s", p.Object, value)
				require.NotNil(t, checks.OpenMetrics, "%s: no openmetrics check", p.Object)
				require.NotNil(t, checks.OpenMetrics.InitConfig, "%s: init_config is required", p.Object)
				require.Len(t, checks.OpenMetrics.Instances, 1)
				inst := checks.OpenMetrics.Instances[0]

				// The endpoint is the injected daprd's metrics port.
				pod, err := DefaultInjector(true).Inject(Namespace, p.Meta, p.Spec)
				require.NoError(t, err)
				metricsPort := containerPort(t, pod, injectorconsts.SidecarContainerName, injectorconsts.SidecarMetricsPortName)
				require.EqualValues(t, port, metricsPort)
				// Autodiscovery replaces %%host%% with the pod's IP.
				require.Contains(t, inst.OpenMetricsEndpoint, "%%host%%")
				u, err := url.Parse(strings.ReplaceAll(inst.OpenMetricsEndpoint, "%%host%%", "10.1.2.3"))
				require.NoError(t, err, inst.OpenMetricsEndpoint)
				require.Equal(t, "http", u.Scheme)
				require.Equal(t, "/metrics", u.Path)
				require.Equal(t, "10.1.2.3:"+strconv.Itoa(int(metricsPort)), u.Host, "the pod's address and daprd's metrics port")

				require.Equal(t, p.Meta.Annotations["dapr.io/app-id"], app)
				require.Equal(t, []string{"app:" + app, "container:daprd", "env:prod", "team:data"}, inst.Tags)

				// The rest is the generated configuration.
				var generic struct {
					OpenMetrics struct {
						Instances []map[string]any `json:"instances"`
					} `json:"openmetrics"`
				}
				require.NoError(t, json.Unmarshal([]byte(value), &generic))
				got := generic.OpenMetrics.Instances[0]
				delete(got, "openmetrics_endpoint")
				delete(got, "tags")
				require.Equal(t, want, got, "%s: the check is not the generated daprd check", p.Object)
				require.Equal(t, "dapr", inst.Namespace)
				require.True(t, inst.HistogramBucketsAsDistributions)
			}
			require.Len(t, seen, len(apps), "every app's Deployment: %v", seen)

			// The NetworkPolicy lets the Agent's namespace reach that port.
			requireIngressPort(t, objs, port)
		})
	}
}

func containerPort(t *testing.T, pod *corev1.Pod, container, name string) int32 {
	t.Helper()
	for _, c := range pod.Spec.Containers {
		if c.Name != container {
			continue
		}
		for _, p := range c.Ports {
			if p.Name == name {
				return p.ContainerPort
			}
		}
	}
	t.Fatalf("no port %s on container %s after injection", name, container)
	return 0
}

func requireIngressPort(t *testing.T, objs []Object, port int) {
	t.Helper()
	for _, o := range objs {
		if o.Kind != "NetworkPolicy" || !strings.HasSuffix(o.Name, "-ingress") {
			continue
		}
		d, err := Decode(o)
		require.NoError(t, err)
		np := d.(*networkingv1.NetworkPolicy)
		for _, r := range np.Spec.Ingress {
			for _, p := range r.Ports {
				if p.Port != nil && p.Port.IntValue() == port && len(r.From) > 0 && r.From[0].NamespaceSelector != nil {
					return
				}
			}
		}
	}
	t.Fatalf("no ingress NetworkPolicy rule lets a namespace reach port %d", port)
}

// Off by default: no Autodiscovery annotation at all.
func TestDatadogAnnotationsOffByDefault(t *testing.T) {
	pods, err := PodTemplates(render(t, "default.yaml", kedaCaps))
	require.NoError(t, err)
	require.NotEmpty(t, pods)
	for _, p := range pods {
		require.Empty(t, adAnnotations(p.Meta.Annotations), "%s", p.Object)
	}
}

// With datadog.enabled every app container has its own OpenMetrics check
// (ad.datadoghq.com/<app>.checks): the generated "app" configuration, at
// the pod's address and the container's "metrics" port, which is where
// METRICS_ADDR makes the app serve /metrics (its API port stays on
// loopback), tagged app:<app> and container:app; the NetworkPolicy lets the
// Agent's namespace reach that port.
func TestDatadogAppCheck(t *testing.T) {
	want := generatedCheck(t, "app")
	for _, port := range []int{9464, 9500} {
		t.Run(strconv.Itoa(port), func(t *testing.T) {
			objs, err := renderWithDatadog(t, map[string]any{
				"datadog": map[string]any{"enabled": true, "tags": []any{"env:prod"}},
				"metrics": map[string]any{"port": port},
			})
			require.NoError(t, err)
			pods, err := PodTemplates(objs)
			require.NoError(t, err)
			seen := 0
			for _, p := range pods {
				if p.Object.Kind != "Deployment" {
					continue
				}
				seen++
				app := p.Meta.Labels["app.kubernetes.io/component"]
				require.Equal(t, app, p.Meta.Annotations["dapr.io/app-id"])
				value, ok := p.Meta.Annotations[adPrefix+app+".checks"]
				require.True(t, ok, "%s: no check for the app container %s", p.Object, app)
				var checks ddChecks
				require.NoError(t, decodeStrictJSON(value, &checks), "%s: %s", p.Object, value)
				require.NotNil(t, checks.OpenMetrics, "%s: no openmetrics check", p.Object)
				require.NotNil(t, checks.OpenMetrics.InitConfig)
				require.Len(t, checks.OpenMetrics.Instances, 1)
				inst := checks.OpenMetrics.Instances[0]

				var c *corev1.Container
				for i := range p.Spec.Containers {
					if p.Spec.Containers[i].Name == app {
						c = &p.Spec.Containers[i]
					}
				}
				require.NotNil(t, c, "%s: no container %s", p.Object, app)
				var metricsPort int32
				for _, cp := range c.Ports {
					if cp.Name == "metrics" {
						metricsPort = cp.ContainerPort
					}
				}
				require.EqualValues(t, port, metricsPort, "%s: the container's metrics port", p.Object)
				env := map[string]string{}
				for _, e := range c.Env {
					env[e.Name] = e.Value
				}
				require.Equal(t, ":"+strconv.Itoa(port), env["METRICS_ADDR"], "%s: the app listens for scrapers on its metrics port", p.Object)
				ip := net.ParseIP(env["APP_HOST"])
				require.True(t, ip != nil && ip.IsLoopback(), "%s: APP_HOST=%q: the API stays on loopback", p.Object, env["APP_HOST"])

				u, err := url.Parse(strings.ReplaceAll(inst.OpenMetricsEndpoint, "%%host%%", "10.1.2.3"))
				require.NoError(t, err, inst.OpenMetricsEndpoint)
				require.Equal(t, "http", u.Scheme)
				require.Equal(t, "/metrics", u.Path)
				require.Equal(t, "10.1.2.3:"+strconv.Itoa(int(metricsPort)), u.Host)
				require.Equal(t, []string{"app:" + app, "container:app", "env:prod"}, inst.Tags)
				require.Equal(t, "secure_agent", inst.Namespace)

				var generic struct {
					OpenMetrics struct {
						Instances []map[string]any `json:"instances"`
					} `json:"openmetrics"`
				}
				require.NoError(t, json.Unmarshal([]byte(value), &generic))
				got := generic.OpenMetrics.Instances[0]
				delete(got, "openmetrics_endpoint")
				delete(got, "tags")
				require.Equal(t, want, got, "%s: the check is not the generated app check", p.Object)
			}
			require.Equal(t, len(apps), seen)
			requireIngressPort(t, objs, port)
		})
	}
}

// values.schema.json refuses tags Datadog would mangle, and unknown keys.
func TestDatadogValuesRefused(t *testing.T) {
	for name, v := range map[string]map[string]any{
		"tag with a space":          {"enabled": true, "tags": []any{"env: prod"}},
		"tag starting with a digit": {"enabled": true, "tags": []any{"1env:prod"}},
		"tags not a list":           {"enabled": true, "tags": "env:prod"},
		"unknown key":               {"enabled": true, "sidecar": true},
		"enabled not a bool":        {"enabled": "yes"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := renderWithDatadog(t, map[string]any{"datadog": v})
			require.Error(t, err)
			require.Contains(t, err.Error(), "/datadog")
		})
	}
}
