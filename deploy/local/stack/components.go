package stack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

type resource struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Type     string `yaml:"type"`
		Version  string `yaml:"version"`
		Metadata []struct {
			Name         string    `yaml:"name"`
			Value        yaml.Node `yaml:"value"`
			EnvRef       string    `yaml:"envRef"`
			SecretKeyRef yaml.Node `yaml:"secretKeyRef"`
		} `yaml:"metadata"`
	} `yaml:"spec"`
	Scopes []string `yaml:"scopes"`
}

// Component is a loaded component's name and type.
type Component struct {
	Name, Type, File string
	Scopes           []string // empty: every app loads it
}

// loadedBy reports whether app's sidecar loads the component.
func (c Component) loadedBy(app string) bool {
	if len(c.Scopes) == 0 {
		return true
	}
	for _, s := range c.Scopes {
		if s == app {
			return true
		}
	}
	return false
}

// validateComponents checks every YAML file of a profile before daprd sees
// it, so a broken file is reported by name and reason instead of as a
// sidecar that never becomes healthy. env is what daprd will be given, so
// an envRef to a variable the launcher does not set is caught as well.
func validateComponents(dir string, env map[string]string) ([]Component, error) {
	// daprd loads both endings, so both are checked.
	var files []string
	for _, pat := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return nil, err
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no component files (*.yaml, *.yml) in %s: is PROFILE right and the checkout complete?", dir)
	}
	sort.Strings(files)
	var comps []Component
	var problems []string
	names := map[string]string{}
	for _, f := range files {
		c, err := validateComponentFile(f, env)
		if errors.Is(err, errNotComponent) {
			continue
		}
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if prev, ok := names[c.Name]; ok {
			problems = append(problems, fmt.Sprintf("%s: component name %q is already used by %s; names must be unique", f, c.Name, prev))
			continue
		}
		names[c.Name] = f
		comps = append(comps, c)
	}
	if len(problems) > 0 {
		return nil, errors.New("broken component files:\n  - " + strings.Join(problems, "\n  - "))
	}
	return comps, nil
}

// errNotComponent marks a valid resource of another kind (Resiliency).
var errNotComponent = errors.New("not a component")

func validateComponentFile(f string, env map[string]string) (Component, error) {
	b, err := os.ReadFile(f)
	if err != nil {
		return Component{}, err
	}
	var r resource
	if err := yaml.Unmarshal(b, &r); err != nil {
		return Component{}, fmt.Errorf("%s: not valid YAML: %v", f, err)
	}
	// A resiliency policy sits beside the components; daprd checks its body.
	if r.Kind == "Resiliency" && r.APIVersion == "dapr.io/v1alpha1" && r.Metadata.Name != "" {
		return Component{}, errNotComponent
	}
	var miss []string
	if r.APIVersion != "dapr.io/v1alpha1" {
		miss = append(miss, fmt.Sprintf("apiVersion must be dapr.io/v1alpha1 (got %q)", r.APIVersion))
	}
	if r.Kind != "Component" {
		miss = append(miss, fmt.Sprintf("kind must be Component (got %q)", r.Kind))
	}
	if r.Metadata.Name == "" {
		miss = append(miss, "metadata.name is missing")
	}
	if r.Spec.Type == "" || !strings.Contains(r.Spec.Type, ".") {
		miss = append(miss, fmt.Sprintf("spec.type must look like pubsub.jetstream or state.sqlite (got %q)", r.Spec.Type))
	}
	if r.Spec.Version == "" {
		miss = append(miss, "spec.version is missing (use v1)")
	}
	for i, m := range r.Spec.Metadata {
		if m.Name == "" {
			miss = append(miss, fmt.Sprintf("spec.metadata[%d] has no name", i))
			continue
		}
		set := 0
		if !m.Value.IsZero() {
			set++
		}
		if m.EnvRef != "" {
			set++
			if _, ok := env[m.EnvRef]; !ok {
				miss = append(miss, fmt.Sprintf("spec.metadata %q reads environment variable %s, which the launcher does not set", m.Name, m.EnvRef))
			}
		}
		if !m.SecretKeyRef.IsZero() {
			set++
		}
		if set != 1 {
			miss = append(miss, fmt.Sprintf("spec.metadata %q needs exactly one of value, envRef or secretKeyRef", m.Name))
		}
	}
	if len(miss) > 0 {
		return Component{}, fmt.Errorf("%s: %s", f, strings.Join(miss, "; "))
	}
	return Component{Name: r.Metadata.Name, Type: r.Spec.Type, File: f, Scopes: r.Scopes}, nil
}
