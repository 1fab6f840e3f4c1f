package chart

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	contribmetadata "github.com/dapr/components-contrib/metadata"
	contribpubsub "github.com/dapr/components-contrib/pubsub"
	componentsv1alpha1 "github.com/dapr/dapr/pkg/apis/components/v1alpha1"
	daprcomponents "github.com/dapr/dapr/pkg/components"
	"github.com/dapr/dapr/pkg/scopes"
	"sigs.k8s.io/yaml"
)

// ModuleDir returns the directory of a module of this module's build list in
// the module cache, downloading the module zip if only its go.mod is there
// (`go mod download -json <path>`).
func ModuleDir(modulePath string) (dir, version string, err error) {
	cmd := exec.Command("go", "mod", "download", "-json", modulePath)
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	var info struct {
		Path, Version, Dir, Error string
	}
	if jerr := json.Unmarshal(out, &info); jerr == nil && info.Error != "" {
		return "", "", fmt.Errorf("go mod download %s: %s", modulePath, info.Error)
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", "", fmt.Errorf("go mod download %s: %w: %s", modulePath, err, ee.Stderr)
		}
		return "", "", fmt.Errorf("go mod download %s: %w", modulePath, err)
	}
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		return "", "", fmt.Errorf("go mod download %s: no directory in %q", modulePath, out)
	}
	return info.Dir, info.Version, nil
}

// metadataField is one entry of a metadata.yaml "metadata:" list.
type metadataField struct {
	Name string `json:"name"`
}

// componentMetadataFile is components-contrib's per-component metadata.yaml
// (component-metadata-schema.json), the fields this check reads.
type componentMetadataFile struct {
	Type                   string `json:"type"`
	Name                   string `json:"name"`
	Version                string `json:"version"`
	AuthenticationProfiles []struct {
		Metadata []metadataField `json:"metadata"`
	} `json:"authenticationProfiles"`
	BuiltinAuthenticationProfiles []struct {
		Name     string          `json:"name"`
		Metadata []metadataField `json:"metadata"`
	} `json:"builtinAuthenticationProfiles"`
	Metadata []metadataField `json:"metadata"`
}

// ComponentSchema is what components-contrib declares for one component
// type and version: the metadata keys it accepts and where each comes from.
type ComponentSchema struct {
	// Type is the Dapr component type, e.g. "state.postgresql".
	Type    string
	Version string
	// File is the metadata.yaml it was read from (relative to the
	// components-contrib module).
	File string
	// Keys maps each accepted metadata key to where it is declared.
	Keys map[string]string
}

// ContribMetadata maps the component types daprd registers to
// components-contrib's metadata.yaml of the package that implements them.
type ContribMetadata struct {
	Dir     string
	Version string
	// DaprVersion is the dapr module whose registrations were read.
	DaprVersion string
	byType      map[string]*ComponentSchema // "type@version"; unversioned: "type@"
	defaults    map[string]string           // type -> default version (versioned types)
	missing     map[string]string           // "type@version" -> why there is no schema
}

// LoadContribMetadata reads the component registrations of our daprd
// (daprdDir: deploy/dapr-runtime/cmd/daprd, whose components.go lists every
// type it is built with) and the metadata.yaml of each registered
// components-contrib package (the components-contrib module in this
// module's build list, the runtime's). Reading our own registrations, not
// upstream's cmd/daprd/components, matters: upstream guards most of its
// files with build tags, so a type registered there may not be in the
// daprd we ship.
func LoadContribMetadata(daprdDir string) (*ContribMetadata, error) {
	contribDir, contribVersion, err := ModuleDir("github.com/dapr/components-contrib")
	if err != nil {
		return nil, err
	}
	_, daprVersion, err := ModuleDir("github.com/dapr/dapr")
	if err != nil {
		return nil, err
	}
	regs, err := daprdRegistrations(daprdDir)
	if err != nil {
		return nil, err
	}
	cm := &ContribMetadata{
		Dir: contribDir, Version: contribVersion, DaprVersion: daprVersion,
		byType: map[string]*ComponentSchema{}, defaults: map[string]string{}, missing: map[string]string{},
	}
	builtins := newBuiltinProfiles(contribDir)
	files := map[string]*componentMetadataFile{}
	for _, r := range regs {
		key := r.Type + "@" + r.Version
		if r.DefaultVersion != "" {
			cm.defaults[r.Type] = r.DefaultVersion
		}
		rel, ok := strings.CutPrefix(r.Package, contribModule+"/")
		if !ok {
			cm.missing[key] = fmt.Sprintf("implemented by %s, not components-contrib", r.Package)
			continue
		}
		file := filepath.Join(rel, "metadata.yaml")
		f, ok := files[file]
		if !ok {
			f, err = readComponentMetadata(filepath.Join(contribDir, file))
			if errors.Is(err, fs.ErrNotExist) {
				cm.missing[key] = fmt.Sprintf("components-contrib %s has no %s", contribVersion, file)
				continue
			}
			if err != nil {
				return nil, err
			}
			files[file] = f
		}
		s := &ComponentSchema{Type: r.Type, Version: r.Version, File: file, Keys: map[string]string{}}
		if err := s.addKeys(f, r.Category, builtins, filepath.Join(contribDir, rel)); err != nil {
			return nil, err
		}
		cm.byType[key] = s
	}
	if len(cm.byType) == 0 {
		return nil, fmt.Errorf("no component registrations with a metadata.yaml in dapr %s", daprVersion)
	}
	return cm, nil
}

const contribModule = "github.com/dapr/components-contrib"

func readComponentMetadata(path string) (*componentMetadataFile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f componentMetadataFile
	if err := yaml.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &f, nil
}

// addKeys collects the keys a component accepts: its metadata.yaml's
// metadata, authenticationProfiles and builtinAuthenticationProfiles (with
// the keys of the builtin profiles they name), and the properties the
// runtime parses for every component of its category.
func (s *ComponentSchema) addKeys(f *componentMetadataFile, category string, builtins *builtinProfiles, pkgDir string) error {
	add := func(key, from string) {
		if _, ok := s.Keys[key]; !ok {
			s.Keys[key] = from
		}
	}
	for _, m := range f.Metadata {
		add(m.Name, s.File+" metadata")
	}
	for _, p := range f.AuthenticationProfiles {
		for _, m := range p.Metadata {
			add(m.Name, s.File+" authenticationProfiles")
		}
	}
	for _, p := range f.BuiltinAuthenticationProfiles {
		for _, m := range p.Metadata {
			add(m.Name, s.File+" builtinAuthenticationProfiles "+p.Name)
		}
		keys, from, err := builtins.keys(p.Name, pkgDir)
		if err != nil {
			return fmt.Errorf("%s: builtin authentication profile %q: %w", s.File, p.Name, err)
		}
		for _, k := range keys {
			add(k, from)
		}
	}
	// Built-in properties the runtime parses for every component of a
	// category. (The runtime parses actorStateStore for every state store and
	// checks the store's features when it is true; a metadata.yaml's
	// "capabilities: [actorStateStore]" is documentation and is missing from
	// some stores that support actors, e.g. state/sqlite.)
	ct := contribmetadata.ComponentType(category)
	for _, k := range ct.BuiltInMetadataProperties() {
		add(k, "components-contrib metadata.ComponentType("+category+").BuiltInMetadataProperties")
	}
	if ct == contribmetadata.PubSubType {
		add(contribpubsub.RuntimeConsumerIDKey, "components-contrib pubsub.RuntimeConsumerIDKey")
		for _, k := range []string{scopes.PublishingScopes, scopes.SubscriptionScopes, scopes.AllowedTopics, scopes.ProtectedTopics} {
			add(k, "dapr pkg/scopes (runtime pub/sub scoping)")
		}
	}
	return nil
}

// Schema returns the schema of a component type and version, resolved the
// way daprd's registries resolve them: an empty version is the type's
// default version; an initial version ("", "v0", "v1") also matches an
// unversioned registration.
func (cm *ContribMetadata) Schema(componentType, version string) (*ComponentSchema, error) {
	componentType, version = strings.ToLower(componentType), strings.ToLower(version)
	if version == "" {
		if d, ok := cm.defaults[componentType]; ok {
			version = d
		}
	}
	keys := []string{componentType + "@" + version}
	if daprcomponents.IsInitialVersion(version) {
		keys = append(keys, componentType+"@")
	}
	for _, k := range keys {
		if s, ok := cm.byType[k]; ok {
			return s, nil
		}
		if why, ok := cm.missing[k]; ok {
			return nil, fmt.Errorf("%s %s: no metadata.yaml to check against: %s", componentType, version, why)
		}
	}
	var known []string
	for k := range cm.byType {
		if t, v, _ := strings.Cut(k, "@"); t == componentType {
			known = append(known, v)
		}
	}
	if len(known) > 0 {
		sort.Strings(known)
		return nil, fmt.Errorf("our daprd (dapr %s, deploy/dapr-runtime/cmd/daprd) registers %s in versions %q, not %q", cm.DaprVersion, componentType, known, version)
	}
	return nil, fmt.Errorf("our daprd (dapr %s) registers no component type %q: register it in deploy/dapr-runtime/cmd/daprd/components.go or do not render it", cm.DaprVersion, componentType)
}

// Check checks a Component's type, version and metadata keys against
// components-contrib's metadata.yaml. Every problem is an error naming the
// component, its type and the key.
func (cm *ContribMetadata) Check(c *componentsv1alpha1.Component) error {
	s, err := cm.Schema(c.Spec.Type, c.Spec.Version)
	if err != nil {
		return fmt.Errorf("component %q: %w", c.Name, err)
	}
	version := c.Spec.Version
	if version == "" {
		version = s.Version
	}
	var errs []error
	seen := map[string]bool{}
	for _, m := range c.Spec.Metadata {
		if seen[m.Name] {
			errs = append(errs, fmt.Errorf("component %q (%s %s): metadata key %q set twice", c.Name, s.Type, version, m.Name))
		}
		seen[m.Name] = true
		if _, ok := s.Keys[m.Name]; !ok {
			errs = append(errs, fmt.Errorf("component %q (%s %s): unknown metadata key %q (not in components-contrib %s %s; known: %s)",
				c.Name, s.Type, version, m.Name, cm.Version, s.File, strings.Join(sortedKeys(s.Keys), ", ")))
		}
	}
	return errors.Join(errs...)
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// builtinProfiles resolves the keys of components-contrib's builtin
// authentication profiles ("aws", "azuread", "gcp"). Their YAML lives in
// components-contrib's .build-tools, a separate module that is not in the
// module zip, so the keys are read from the Go code that parses them, which is:
//   - aws: the mapstructure tags (and aliases) of common/authentication/aws;
//   - azuread: the identity entries of MetadataKeys in
//     common/authentication/azure/metadata-properties.go;
//   - gcp: the fields of the component's own metadata struct marked
//     mdignore:"true" (the fields documented by the builtin gcp profile).
type builtinProfiles struct {
	dir   string
	cache map[string][]string
}

func newBuiltinProfiles(dir string) *builtinProfiles {
	return &builtinProfiles{dir: dir, cache: map[string][]string{}}
}

func (b *builtinProfiles) keys(profile, componentDir string) ([]string, string, error) {
	switch profile {
	case "aws":
		const from = "common/authentication/aws (builtin aws profile)"
		if k, ok := b.cache[profile]; ok {
			return k, from, nil
		}
		keys, err := structTagKeys(filepath.Join(b.dir, "common/authentication/aws"), func(f *ast.Field, tag reflect.StructTag) bool {
			// Options also carries PostgreSQL's pool settings and connection
			// string, which are not AWS authentication metadata.
			name := tag.Get("mapstructure")
			return name != "poolConfig" && name != "connectionString"
		})
		if err != nil {
			return nil, "", err
		}
		b.cache[profile] = keys
		return keys, from, nil
	case "azuread":
		const from = "common/authentication/azure MetadataKeys (builtin azuread profile)"
		if k, ok := b.cache[profile]; ok {
			return k, from, nil
		}
		keys, err := azureMetadataKeys(filepath.Join(b.dir, "common/authentication/azure/metadata-properties.go"))
		if err != nil {
			return nil, "", err
		}
		b.cache[profile] = keys
		return keys, from, nil
	case "gcp":
		rel, _ := filepath.Rel(b.dir, componentDir)
		keys, err := structTagKeys(componentDir, func(f *ast.Field, tag reflect.StructTag) bool {
			return tag.Get("mdignore") == "true"
		})
		if err != nil {
			return nil, "", err
		}
		if len(keys) == 0 {
			return nil, "", fmt.Errorf("no mdignore fields in %s", rel)
		}
		return keys, rel + " mdignore fields (builtin gcp profile)", nil
	default:
		return nil, "", fmt.Errorf("unknown builtin authentication profile %q", profile)
	}
}

// parseDir parses the non-test Go files of one directory.
func parseDir(dir string) ([]*ast.File, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// structTagKeys returns the mapstructure names and mapstructurealiases of
// the struct fields in dir's Go files that keep(field) accepts.
func structTagKeys(dir string, keep func(*ast.Field, reflect.StructTag) bool) ([]string, error) {
	files, err := parseDir(dir)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			st, ok := n.(*ast.StructType)
			if !ok {
				return true
			}
			for _, field := range st.Fields.List {
				if field.Tag == nil {
					continue
				}
				raw, err := strconv.Unquote(field.Tag.Value)
				if err != nil {
					continue
				}
				tag := reflect.StructTag(raw)
				name, _, _ := strings.Cut(tag.Get("mapstructure"), ",")
				if name == "" || name == "-" || !keep(field, tag) {
					continue
				}
				set[name] = true
				for _, a := range strings.Split(tag.Get("mapstructurealiases"), ",") {
					if a = strings.TrimSpace(a); a != "" {
						set[a] = true
					}
				}
			}
			return true
		})
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// azureMetadataKeys reads the string values of the MetadataKeys map literal
// in components-contrib's azure metadata-properties.go, leaving out the
// storage entries (Storage*: account, container, queue... names of the
// storage components, not authentication).
func azureMetadataKeys(file string) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var out []string
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "MetadataKeys" || len(vs.Values) != 1 {
			return true
		}
		lit, ok := vs.Values[0].(*ast.CompositeLit)
		if !ok {
			return true
		}
		found = true
		for _, el := range lit.Elts {
			kv, ok := el.(*ast.KeyValueExpr)
			if !ok {
				continue
			}
			k, ok := kv.Key.(*ast.BasicLit)
			if !ok {
				continue
			}
			name, _ := strconv.Unquote(k.Value)
			if strings.HasPrefix(name, "Storage") {
				continue
			}
			vals, ok := kv.Value.(*ast.CompositeLit)
			if !ok {
				continue
			}
			for _, v := range vals.Elts {
				if bl, ok := v.(*ast.BasicLit); ok && bl.Kind == token.STRING {
					s, _ := strconv.Unquote(bl.Value)
					out = append(out, s)
				}
			}
		}
		return false
	})
	if !found || len(out) == 0 {
		return nil, fmt.Errorf("%s: no MetadataKeys map", file)
	}
	sort.Strings(out)
	return out, nil
}
