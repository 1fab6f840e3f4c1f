package stack

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Configuration is the part of a Dapr Configuration file (components/config)
// the launcher checks before any sidecar reads it. daprd itself ignores
// unknown keys, so a misspelled `acessControl` would silently run a sidecar
// without its policies; and a syntax error comes back from daprd without
// the file's name.
type Configuration struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec ConfigurationSpec `yaml:"spec"`
}

// ConfigurationSpec holds the blocks our files use, typed as daprd reads them.
type ConfigurationSpec struct {
	NameResolution *struct {
		Component     string            `yaml:"component"`
		Version       string            `yaml:"version"`
		Configuration map[string]string `yaml:"configuration"`
	} `yaml:"nameResolution"`
	AccessControl *struct {
		DefaultAction string `yaml:"defaultAction"`
		TrustDomain   string `yaml:"trustDomain"`
		Policies      []struct {
			AppID         string `yaml:"appId"`
			DefaultAction string `yaml:"defaultAction"`
			TrustDomain   string `yaml:"trustDomain"`
			Namespace     string `yaml:"namespace"`
			Operations    []struct {
				Name     string   `yaml:"name"`
				HTTPVerb []string `yaml:"httpVerb"`
				Action   string   `yaml:"action"`
			} `yaml:"operations"`
		} `yaml:"policies"`
	} `yaml:"accessControl"`
	Secrets *struct {
		Scopes []struct {
			StoreName      string   `yaml:"storeName"`
			DefaultAccess  string   `yaml:"defaultAccess"`
			AllowedSecrets []string `yaml:"allowedSecrets"`
			DeniedSecrets  []string `yaml:"deniedSecrets"`
		} `yaml:"scopes"`
	} `yaml:"secrets"`
}

// daprConfigurationKeys are the fields of Dapr 1.16's ConfigurationSpec.
var daprConfigurationKeys = []string{
	"httpPipeline", "appHttpPipeline", "tracing", "mtls", "metric", "metrics", "secrets", "accessControl",
	"nameResolution", "features", "api", "components", "logging", "wasm", "workflow",
}

// LoadConfiguration reads and checks one Dapr Configuration file. Every
// problem names the file, the line where yaml knows it, and what to do.
func LoadConfiguration(file string) (Configuration, error) {
	var c Configuration
	b, err := os.ReadFile(file)
	if err != nil {
		return c, fmt.Errorf("dapr configuration %s: %w", file, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return c, fmt.Errorf("%s: not valid YAML: %v; fix the file", file, yamlLine(err))
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("%s: %v; fix the file", file, yamlLine(err))
	}
	var problems []string
	if c.APIVersion != "dapr.io/v1alpha1" {
		problems = append(problems, fmt.Sprintf("apiVersion must be dapr.io/v1alpha1 (got %q)", c.APIVersion))
	}
	if c.Kind != "Configuration" {
		problems = append(problems, fmt.Sprintf("kind must be Configuration (got %q): this directory holds sidecar Configurations, components go in components/<profile>", c.Kind))
	}
	if c.Metadata.Name == "" {
		problems = append(problems, "metadata.name is missing")
	}
	problems = append(problems, unknownSpecKeys(&doc)...)
	problems = append(problems, c.Spec.problems()...)
	if len(problems) > 0 {
		return c, fmt.Errorf("%s: %s", file, strings.Join(problems, "; "))
	}
	return c, nil
}

// yamlLine keeps yaml's own "line N: reason" text, without its prefix.
func yamlLine(err error) string {
	return strings.TrimPrefix(strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  "), "yaml: ")
}

func unknownSpecKeys(doc *yaml.Node) []string {
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return []string{"the file is not a YAML mapping (apiVersion, kind, metadata, spec)"}
	}
	var spec *yaml.Node
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "spec" {
			spec = top.Content[i+1]
		}
	}
	if spec == nil || spec.Kind != yaml.MappingNode {
		return nil
	}
	var out []string
	for i := 0; i+1 < len(spec.Content); i += 2 {
		k := spec.Content[i]
		if !slices.Contains(daprConfigurationKeys, k.Value) {
			out = append(out, fmt.Sprintf("line %d: spec.%s is not a Dapr Configuration field, so daprd would ignore it (known: %s)",
				k.Line, k.Value, strings.Join(daprConfigurationKeys, ", ")))
		}
	}
	return out
}

func (s ConfigurationSpec) problems() []string {
	var out []string
	action := func(where, v string, emptyOK bool) {
		if (v == "" && !emptyOK) || (v != "" && !strings.EqualFold(v, "allow") && !strings.EqualFold(v, "deny")) {
			out = append(out, fmt.Sprintf("%s must be allow or deny (got %q)", where, v))
		}
	}
	if nr := s.NameResolution; nr != nil && nr.Component == "" {
		out = append(out, "spec.nameResolution.component is missing (sqlite)")
	}
	if ac := s.AccessControl; ac != nil {
		action("spec.accessControl.defaultAction", ac.DefaultAction, true)
		for i, p := range ac.Policies {
			at := fmt.Sprintf("spec.accessControl.policies[%d]", i)
			if p.AppID == "" || p.TrustDomain == "" || p.Namespace == "" {
				out = append(out, at+" needs appId, trustDomain and namespace (daprd refuses the whole file otherwise)")
			}
			action(at+".defaultAction", p.DefaultAction, true)
			for j, op := range p.Operations {
				if op.Name == "" {
					out = append(out, fmt.Sprintf("%s.operations[%d].name is missing", at, j))
				}
				action(fmt.Sprintf("%s.operations[%d].action", at, j), op.Action, false)
			}
		}
	}
	if sec := s.Secrets; sec != nil {
		seen := map[string]bool{}
		for i, sc := range sec.Scopes {
			if seen[sc.StoreName] {
				out = append(out, fmt.Sprintf("spec.secrets.scopes[%d]: store %q is listed twice", i, sc.StoreName))
			}
			seen[sc.StoreName] = true
			action(fmt.Sprintf("spec.secrets.scopes[%d].defaultAccess", i), sc.DefaultAccess, true)
		}
	}
	return out
}

// validateConfigurations checks every components/config/*.yaml the
// launcher hands to sentry and the sidecars; all problems at once.
func validateConfigurations(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	sort.Strings(files)
	var problems []string
	for _, f := range files {
		if _, err := LoadConfiguration(f); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return errors.New("broken Dapr configuration files:\n  - " + strings.Join(problems, "\n  - "))
	}
	return nil
}
