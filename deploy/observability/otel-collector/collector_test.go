package otelcollector

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// config is the part of the collector's configuration file these examples
// use; decoding is strict, so a misspelt section is an error.
type config struct {
	Receivers  map[string]any `yaml:"receivers"`
	Processors map[string]any `yaml:"processors"`
	Connectors map[string]any `yaml:"connectors"`
	Exporters  map[string]any `yaml:"exporters"`
	Extensions map[string]any `yaml:"extensions"`
	Service    struct {
		Extensions []string            `yaml:"extensions"`
		Pipelines  map[string]pipeline `yaml:"pipelines"`
	} `yaml:"service"`
}

type pipeline struct {
	Receivers  []string `yaml:"receivers"`
	Processors []string `yaml:"processors"`
	Exporters  []string `yaml:"exporters"`
}

// Component types of each kind that the examples may use, as the
// otelcol-contrib distribution names them.
var knownTypes = map[string]map[string]bool{
	"receiver":  {"otlp": true},
	"processor": {"batch": true, "memory_limiter": true},
	"exporter":  {"datadog": true, "otlp": true, "otlphttp": true, "debug": true},
	"connector": {"datadog": true},
	"extension": {"health_check": true},
}

// The signals a pipeline may carry ("traces" or "traces/<name>").
var signals = map[string]bool{"traces": true, "metrics": true, "logs": true}

// The ports the apps' OTLP exporter and daprd's use by default: gRPC
// (OTEL_EXPORTER_OTLP_PROTOCOL=grpc, the apps' default, and the chart's
// Dapr Configuration) and HTTP (http/protobuf).
const (
	otlpGRPCPort = "4317"
	otlpHTTPPort = "4318"
)

func parse(data []byte) (config, error) {
	var c config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(&c)
	return c, err
}

func componentType(id string) string {
	t, _, _ := strings.Cut(id, "/")
	return t
}

// check lists every problem of a configuration.
func check(c config) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	sections := map[string]map[string]any{
		"receiver": c.Receivers, "processor": c.Processors, "exporter": c.Exporters,
		"connector": c.Connectors, "extension": c.Extensions,
	}
	for kind, comps := range sections {
		for id := range comps {
			if !knownTypes[kind][componentType(id)] {
				fail("%s %q: not a %s type the examples use (%v)", kind, id, kind, keys(knownTypes[kind]))
			}
		}
	}
	used := map[string]bool{}
	asExporter, asReceiver := map[string]bool{}, map[string]bool{}
	for name, p := range c.Service.Pipelines {
		if !signals[componentType(name)] {
			fail("pipeline %q: not traces, metrics or logs", name)
		}
		if len(p.Receivers) == 0 || len(p.Exporters) == 0 {
			fail("pipeline %q: needs a receiver and an exporter", name)
		}
		for _, r := range p.Receivers {
			switch {
			case has(c.Receivers, r):
				used["receiver "+r] = true
			case has(c.Connectors, r):
				used["connector "+r] = true
				asReceiver[r] = true
			default:
				fail("pipeline %q: receiver %q is not defined", name, r)
			}
		}
		for _, pr := range p.Processors {
			if !has(c.Processors, pr) {
				fail("pipeline %q: processor %q is not defined", name, pr)
			}
			used["processor "+pr] = true
		}
		if contains(p.Processors, "memory_limiter") && p.Processors[0] != "memory_limiter" {
			fail("pipeline %q: memory_limiter must come first", name)
		}
		for _, e := range p.Exporters {
			switch {
			case has(c.Exporters, e):
				used["exporter "+e] = true
			case has(c.Connectors, e):
				used["connector "+e] = true
				asExporter[e] = true
			default:
				fail("pipeline %q: exporter %q is not defined", name, e)
			}
		}
	}
	for id := range c.Connectors {
		if asExporter[id] != asReceiver[id] {
			fail("connector %q must be an exporter of one pipeline and a receiver of another", id)
		}
	}
	for _, e := range c.Service.Extensions {
		if !has(c.Extensions, e) {
			fail("service extension %q is not defined", e)
		}
		used["extension "+e] = true
	}
	for kind, comps := range sections {
		for id := range comps {
			if !used[kind+" "+id] {
				fail("%s %q is defined but used by no pipeline", kind, id)
			}
		}
	}
	errs = append(errs, checkOTLPReceiver(c)...)
	walkSecrets(map[string]any{"receivers": c.Receivers, "processors": c.Processors, "connectors": c.Connectors,
		"exporters": c.Exporters, "extensions": c.Extensions}, "", &errs)
	return errs
}

// checkOTLPReceiver: an otlp receiver on the default ports, feeding a
// traces pipeline.
func checkOTLPReceiver(c config) []error {
	raw, ok := c.Receivers["otlp"].(map[string]any)
	if !ok {
		return []error{errors.New("no otlp receiver")}
	}
	var errs []error
	protocols, _ := raw["protocols"].(map[string]any)
	for proto, port := range map[string]string{"grpc": otlpGRPCPort, "http": otlpHTTPPort} {
		p, _ := protocols[proto].(map[string]any)
		ep, _ := p["endpoint"].(string)
		_, got, err := net.SplitHostPort(ep)
		if err != nil || got != port {
			errs = append(errs, fmt.Errorf("otlp receiver: %s endpoint %q, want port %s", proto, ep, port))
		}
	}
	traced := false
	for name, p := range c.Service.Pipelines {
		if componentType(name) == "traces" && contains(p.Receivers, "otlp") {
			traced = true
		}
	}
	if !traced {
		errs = append(errs, errors.New("no traces pipeline receives from otlp"))
	}
	return errs
}

var envRef = regexp.MustCompile(`^\$\{env:[A-Z_][A-Z0-9_]*(:-[^}]*)?\}$`)

// secretKeys are setting names that hold a credential.
var secretKeys = regexp.MustCompile(`(?i)^(key|api_key|token|password|secret|authorization)$`)

// walkSecrets refuses a credential written inline: it must be an
// environment reference.
func walkSecrets(v any, path string, errs *[]error) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			p := path + "." + k
			if s, ok := val.(string); ok && secretKeys.MatchString(k) && !envRef.MatchString(s) {
				*errs = append(*errs, fmt.Errorf("%s: a credential written inline; use ${env:NAME}", p))
			}
			walkSecrets(val, p, errs)
		}
	case []any:
		for i, val := range x {
			walkSecrets(val, fmt.Sprintf("%s[%d]", path, i), errs)
		}
	}
}

// envVars lists the environment variables a configuration reads.
func envVars(data []byte) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{env:([A-Z_][A-Z0-9_]*)`).FindAllSubmatch(data, -1) {
		// Only references outside comments count.
		if !seen[string(m[1])] {
			seen[string(m[1])] = true
			out = append(out, string(m[1]))
		}
	}
	sort.Strings(out)
	return out
}

func uncommented(data []byte) []byte {
	var b bytes.Buffer
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		b.WriteString(l + "\n")
	}
	return b.Bytes()
}

func has(m map[string]any, id string) bool { _, ok := m[id]; return ok }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var examples = map[string][]string{
	// file → the exporters its traces must reach
	"collector.yaml":      {"datadog/exporter", "datadog/connector"},
	"collector-otlp.yaml": {"otlp/backend"},
}

func TestExamples(t *testing.T) {
	docs, err := os.ReadFile("../../../docs/observability.md")
	require.NoError(t, err)
	for file, exporters := range examples {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			c, err := parse(data)
			require.NoError(t, err)
			require.NoError(t, errors.Join(check(c)...))
			require.ElementsMatch(t, exporters, c.Service.Pipelines["traces"].Exporters)
			// Every variable it reads is explained to the operator.
			vars := envVars(uncommented(data))
			require.NotEmpty(t, vars)
			for _, v := range vars {
				require.True(t, strings.Contains(string(docs), "`"+v+"`"), "docs/observability.md does not explain %s (%s)", v, file)
			}
		})
	}
}

// What the checks catch, on variations of collector.yaml.
func TestChecksCatchMistakes(t *testing.T) {
	good, err := os.ReadFile("collector.yaml")
	require.NoError(t, err)
	for _, tc := range []struct{ name, old, new, want string }{
		{"an undefined exporter", "exporters: [datadog/connector, datadog/exporter]", "exporters: [datadog/connector, datadog]", `exporter "datadog" is not defined`},
		{"a connector that feeds nothing", "receivers: [datadog/connector]", "receivers: [otlp]", "must be an exporter of one pipeline and a receiver of another"},
		{"an inline API key", "key: ${env:DD_API_KEY}", "key: 0123456789abcdef", "a credential written inline"},
		{"another gRPC port", "endpoint: 0.0.0.0:4317", "endpoint: 0.0.0.0:14317", "want port 4317"},
		{"an unused processor", "processors: [memory_limiter, batch]", "processors: [batch]", `processor "memory_limiter" is defined but used by no pipeline`},
		{"a misspelt section", "\nconnectors:", "\nconectors:", "field conectors not found"},
		{"an unknown component type", "health_check:\n    endpoint", "healthcheck:\n    endpoint", `extension "healthcheck": not a extension type`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Contains(t, string(good), tc.old)
			bad := []byte(strings.Replace(string(good), tc.old, tc.new, 1))
			c, err := parse(bad)
			if err == nil {
				err = errors.Join(check(c)...)
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}
