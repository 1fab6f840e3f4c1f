// Package chart renders the secure-agent Helm chart with the Helm v4 library
// (the same code path as `helm template`: chart loader, values coalescing,
// values.schema.json validation, template engine, manifest sorting) and checks
// the result with the real libraries of the things that consume it: the
// Kubernetes API types (strict decoding), Dapr's sidecar injector and CRD
// types, KEDA's API types, Pod Security admission and components-contrib's
// component metadata. Nothing here re-implements a rule of those projects.
package chart

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
	"sigs.k8s.io/yaml"
)

const (
	// ReleaseName and Namespace are the release every render uses.
	ReleaseName = "secure-agent"
	Namespace   = "secure-agent"
	// DefaultKubeVersion is the cluster version a render assumes when
	// Capabilities.KubeVersion is empty. (Helm's own default in a test
	// binary is v1.20, below the chart's kubeVersion constraint.)
	DefaultKubeVersion = "v1.34.0"
)

// Capabilities is what the cluster would report to Helm: its version and the
// API versions it serves on top of the built-in ones (e.g. "keda.sh/v1alpha1"
// when KEDA is installed, "dapr.io/v1alpha1" for Dapr's CRDs).
type Capabilities struct {
	KubeVersion string
	APIVersions []string
}

// Object is one rendered Kubernetes object.
type Object struct {
	// Source is the template that produced it, e.g.
	// "secure-agent/templates/deployments.yaml".
	Source string
	// Hook is set for Helm hooks (e.g. the `helm test` Pod), which Helm
	// keeps out of the release manifest.
	Hook       bool
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	// JSON is the object as JSON, converted from the rendered YAML
	// (duplicate keys are an error).
	JSON []byte
}

// String names the object for messages: "Deployment/secure-agent-extractor
// (secure-agent/templates/deployments.yaml)".
func (o Object) String() string {
	return fmt.Sprintf("%s/%s (%s)", o.Kind, o.Name, o.Source)
}

// ReadValuesFile reads a values file (a profile) with Helm's own reader.
func ReadValuesFile(path string) (map[string]any, error) {
	v, err := common.ReadValuesFile(path)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// RenderFile renders the chart with a values file (a profile).
func RenderFile(chartDir, valuesFile string, caps Capabilities) ([]Object, error) {
	vals, err := ReadValuesFile(valuesFile)
	if err != nil {
		return nil, err
	}
	return Render(chartDir, vals, caps)
}

// Render renders the chart in chartDir with the given values (nil: the
// chart's defaults) as a client-only `helm install --dry-run` with explicit
// capabilities, and returns every object of the manifest and of the hooks.
// Values that values.schema.json refuses, a failing `required`/`fail` in a
// template and an incompatible kubeVersion are errors.
func Render(chartDir string, values map[string]any, caps Capabilities) ([]Object, error) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", chartDir, err)
	}
	kv := caps.KubeVersion
	if kv == "" {
		kv = DefaultKubeVersion
	}
	kubeVersion, err := common.ParseKubeVersion(kv)
	if err != nil {
		return nil, fmt.Errorf("kube version %q: %w", kv, err)
	}
	if values == nil {
		values = map[string]any{}
	}

	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.NewTextHandler(io.Discard, nil)))
	install := action.NewInstall(cfg)
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = ReleaseName
	install.Namespace = Namespace
	install.KubeVersion = kubeVersion
	install.APIVersions = append(common.VersionSet(nil), caps.APIVersions...)
	install.IncludeCRDs = true

	ri, err := install.RunWithContext(context.Background(), ch, values)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", chartDir, err)
	}
	rel, ok := ri.(*release.Release)
	if !ok {
		return nil, fmt.Errorf("render %s: unexpected release type %T", chartDir, ri)
	}

	objs, err := splitManifest(rel.Manifest, false)
	if err != nil {
		return nil, err
	}
	for _, h := range rel.Hooks {
		hobjs, err := splitManifest("# Source: "+h.Path+"\n"+h.Manifest, true)
		if err != nil {
			return nil, err
		}
		objs = append(objs, hobjs...)
	}
	return objs, nil
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// splitManifest splits Helm's manifest ("---\n# Source: path\n<yaml>" per
// document) into objects.
func splitManifest(manifest string, hook bool) ([]Object, error) {
	var objs []Object
	for _, doc := range docSeparator.Split(manifest, -1) {
		source := ""
		sc := bufio.NewScanner(strings.NewReader(doc))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if s, ok := strings.CutPrefix(line, "# Source: "); ok {
				source = s
				break
			}
		}
		js, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("%s: rendered YAML: %w", source, err)
		}
		if s := strings.TrimSpace(string(js)); s == "null" || s == "" {
			continue // empty document (a template that rendered nothing)
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(js, &head); err != nil {
			return nil, fmt.Errorf("%s: rendered document is not an object: %w", source, err)
		}
		if head.APIVersion == "" || head.Kind == "" {
			return nil, fmt.Errorf("%s: rendered document without apiVersion/kind: %.200s", source, js)
		}
		objs = append(objs, Object{
			Source:     source,
			Hook:       hook,
			APIVersion: head.APIVersion,
			Kind:       head.Kind,
			Name:       head.Metadata.Name,
			Namespace:  head.Metadata.Namespace,
			JSON:       js,
		})
	}
	if len(objs) == 0 && !hook {
		return nil, errors.New("the chart rendered no objects")
	}
	return objs, nil
}

// ValidateValues coalesces values with the chart's values.yaml and validates
// the result against the chart's values.schema.json, the step `helm install`
// runs before rendering. A chart without a schema is an error here.
func ValidateValues(chartDir string, values map[string]any) error {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return fmt.Errorf("load chart %s: %w", chartDir, err)
	}
	if len(ch.Schema) == 0 {
		return fmt.Errorf("chart %s has no values.schema.json", chartDir)
	}
	vals, err := util.CoalesceValues(ch, values)
	if err != nil {
		return err
	}
	return util.ValidateAgainstSchema(ch, vals)
}

// Profiles lists the values profiles (*.yaml) in dir, sorted.
func Profiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".yaml") {
			out = append(out, dir+"/"+e.Name())
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no values profiles (*.yaml) in %s", dir)
	}
	return out, nil
}
