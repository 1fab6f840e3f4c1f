package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// MetricsTarget is one process's Prometheus endpoint.
type MetricsTarget struct {
	Process string // process name: extractor, extractor-2, extractor-dapr, sentry...
	// App is the Dapr app id (orchestrator, extractor, publisher, health),
	// or the control-plane service (sentry, placement, scheduler).
	App string
	// Container is "app" for an agent app, "daprd" for its sidecar, and the
	// service name for the Dapr control plane: the labels a Kubernetes
	// scrape gives the same processes (docs/observability.md).
	Container string
	URL       string
}

// MetricsTargets lists every process's /metrics: the apps, their sidecars
// and the Dapr control plane.
func (l Layout) MetricsTargets(instances []string) []MetricsTarget {
	var out []MetricsTarget
	for _, name := range instances {
		ap := l.ports.App[name]
		app := AppIDOf(name)
		out = append(out,
			MetricsTarget{Process: name, App: app, Container: "app", URL: fmt.Sprintf("http://127.0.0.1:%d/metrics", ap.App)},
			MetricsTarget{Process: name + "-dapr", App: app, Container: "daprd", URL: fmt.Sprintf("http://127.0.0.1:%d/metrics", ap.DaprMetrics)})
	}
	for _, cp := range []struct {
		name string
		port int
	}{{"sentry", l.ports.SentryMetrics}, {"placement", l.ports.PlacementMetrics}, {"scheduler", l.ports.SchedulerMetrics}} {
		out = append(out, MetricsTarget{Process: cp.name, App: cp.name, Container: cp.name, URL: fmt.Sprintf("http://127.0.0.1:%d/metrics", cp.port)})
	}
	return out
}

// PrometheusFile is the scrape configuration the launcher writes to the
// data dir.
const PrometheusFile = "prometheus.yml"

// PrometheusOptions tune PrometheusConfig.
type PrometheusOptions struct {
	ScrapeInterval time.Duration // default 15s
	RuleFiles      []string      // absolute paths, e.g. deploy/observability/prometheus/secure-agent.rules.yaml
}

// promConfig is the part of Prometheus's configuration file written here.
type promConfig struct {
	Global struct {
		ScrapeInterval     string `yaml:"scrape_interval"`
		EvaluationInterval string `yaml:"evaluation_interval"`
	} `yaml:"global"`
	RuleFiles     []string           `yaml:"rule_files,omitempty"`
	ScrapeConfigs []promScrapeConfig `yaml:"scrape_configs"`
}

type promScrapeConfig struct {
	JobName       string             `yaml:"job_name"`
	MetricsPath   string             `yaml:"metrics_path"`
	StaticConfigs []promStaticConfig `yaml:"static_configs"`
}

type promStaticConfig struct {
	Targets []string          `yaml:"targets"`
	Labels  map[string]string `yaml:"labels"`
}

// PrometheusConfig is a scrape configuration for targets: one job per
// process kind ("secure-agent" for the apps, "dapr" for the sidecars and
// the Dapr control plane), each target labelled with app, container and
// process, as docs/observability.md says the dashboards and alerts expect.
func PrometheusConfig(targets []MetricsTarget, o PrometheusOptions) ([]byte, error) {
	if o.ScrapeInterval <= 0 {
		o.ScrapeInterval = 15 * time.Second
	}
	var c promConfig
	c.Global.ScrapeInterval = o.ScrapeInterval.String()
	c.Global.EvaluationInterval = o.ScrapeInterval.String()
	c.RuleFiles = o.RuleFiles
	index := map[string]int{}
	for _, t := range targets {
		job := "dapr"
		if t.Container == "app" {
			job = "secure-agent"
		}
		i, ok := index[job]
		if !ok {
			c.ScrapeConfigs = append(c.ScrapeConfigs, promScrapeConfig{JobName: job, MetricsPath: "/metrics"})
			i = len(c.ScrapeConfigs) - 1
			index[job] = i
		}
		hostPort := strings.TrimSuffix(strings.TrimPrefix(t.URL, "http://"), "/metrics")
		c.ScrapeConfigs[i].StaticConfigs = append(c.ScrapeConfigs[i].StaticConfigs, promStaticConfig{Targets: []string{hostPort},
			Labels: map[string]string{"app": t.App, "container": t.Container, "process": t.Process}})
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("prometheus configuration: %w", err)
	}
	return append([]byte("# Written by the secure-agent launcher: scrape every app, sidecar and Dapr control-plane\n"+
		"# process of this stack. Run: prometheus --config.file="+PrometheusFile+"\n"), b...), nil
}

// writePrometheusConfig writes the stack's scrape configuration to the
// data dir and returns its path.
func (s *Stack) writePrometheusConfig() (string, error) {
	// The alert rules the chart ships, so a laptop Prometheus alerts too.
	rules, err := filepath.Abs(filepath.Join(s.opts.Root, "deploy", "observability", "prometheus", "secure-agent.rules.yaml"))
	if err != nil {
		return "", fmt.Errorf("alert rules: %w", err)
	}
	o := PrometheusOptions{}
	if _, err := os.Stat(rules); err == nil {
		o.RuleFiles = []string{rules}
	}
	b, err := PrometheusConfig(s.MetricsTargets(s.Instances()), o)
	if err != nil {
		return "", err
	}
	path := s.dir(PrometheusFile)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}

// PrometheusConfigFile is where the stack wrote its scrape configuration.
func (s *Stack) PrometheusConfigFile() string { return s.dir(PrometheusFile) }

// tracedConfigFile is app's sidecar Configuration with its spans exported
// to the OTLP endpoint (OTLPEndpoint), written to the data dir.
func (s *Stack) tracedConfigFile(app string) (string, error) {
	src := filepath.Join(s.opts.Root, "components", "config", app+".yaml")
	b, err := os.ReadFile(src)
	if err != nil {
		return "", fmt.Errorf("dapr configuration for %s: %w", app, err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return "", fmt.Errorf("%s: %w", src, err)
	}
	spec, _ := doc["spec"].(map[string]any)
	if spec == nil {
		return "", fmt.Errorf("%s: no spec", src)
	}
	tracing, _ := spec["tracing"].(map[string]any)
	if tracing == nil {
		tracing = map[string]any{}
	}
	tracing["otel"] = map[string]any{"endpointAddress": s.opts.OTLPEndpoint, "isSecure": false, "protocol": "grpc"}
	spec["tracing"] = tracing
	out, err := yaml.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("%s: %w", src, err)
	}
	path := s.dir("config", app+".yaml")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}
