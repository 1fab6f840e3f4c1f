package chart

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	daprcomponents "github.com/dapr/dapr/pkg/components"
)

// registration is one component type our daprd registers in
// deploy/dapr-runtime/cmd/daprd (e.g. secretstores.aws.secretmanager,
// implemented by components-contrib/secretstores/aws/secretmanager).
type registration struct {
	// Category is daprd's component category, e.g. "secretstores".
	Category string
	// Type is the component type a Component's spec.type names.
	Type string
	// Version is "" for an unversioned registration.
	Version string
	// DefaultVersion is the version an empty spec.version resolves to
	// (versioned registrations only).
	DefaultVersion string
	// Package is the Go package of the constructor.
	Package string
	// File is the registration's source file.
	File string
}

const daprComponentsLoaders = "github.com/dapr/dapr/pkg/components/"

var majorVersionElem = regexp.MustCompile(`^v[0-9]+$`)

// daprdRegistrations parses daprd's component registrations (calls of
// <loader>.DefaultRegistry.Register*(constructor, names...) and
// RegisterComponentWithVersions(name, components.Versioning{...})) in dir.
func daprdRegistrations(dir string) ([]registration, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, c := range []daprcomponents.Category{
		daprcomponents.CategoryBindings, daprcomponents.CategoryPubSub, daprcomponents.CategorySecretStore,
		daprcomponents.CategoryStateStore, daprcomponents.CategoryWorkflow, daprcomponents.CategoryWorkflowBackend,
		daprcomponents.CategoryMiddleware, daprcomponents.CategoryConfiguration, daprcomponents.CategoryCryptoProvider,
		daprcomponents.CategoryLock, daprcomponents.CategoryNameResolution, daprcomponents.CategoryConversation,
	} {
		known[string(c)] = true
	}

	var out []registration
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		path := filepath.Join(dir, name)
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution|parser.ParseComments)
		if err != nil {
			return nil, err
		}
		// A registration behind a build tag may or may not be in the binary:
		// exactly the doubt this check exists to remove.
		if hasBuildConstraint(f) {
			return nil, fmt.Errorf("daprd registrations: %s has a //go:build line; list the components daprd is built with in files without build tags", path)
		}
		imports := map[string]string{} // package name in the file -> import path
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if imp.Name != nil {
				imports[imp.Name.Name] = p
				continue
			}
			elems := strings.Split(p, "/")
			n := elems[len(elems)-1]
			if majorVersionElem.MatchString(n) && len(elems) > 1 {
				n = elems[len(elems)-2]
			}
			imports[n] = p
		}

		var ferr error
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || ferr != nil {
				return ferr == nil
			}
			fn, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !strings.HasPrefix(fn.Sel.Name, "Register") {
				return true
			}
			reg, ok := fn.X.(*ast.SelectorExpr)
			if !ok || reg.Sel.Name != "DefaultRegistry" {
				return true
			}
			loader, ok := reg.X.(*ast.Ident)
			if !ok {
				return true
			}
			loaderPath, ok := strings.CutPrefix(imports[loader.Name], daprComponentsLoaders)
			if !ok {
				ferr = fmt.Errorf("%s: registry %s is not a dapr components loader", name, loader.Name)
				return false
			}
			category := strings.ReplaceAll(loaderPath, "/", ".") // middleware/http -> middleware.http
			if first, _, _ := strings.Cut(category, "."); !known[first] {
				ferr = fmt.Errorf("%s: unknown component category %q", name, category)
				return false
			}
			base := registration{Category: category, File: path}

			if fn.Sel.Name == "RegisterComponentWithVersions" {
				if len(call.Args) != 2 {
					ferr = fmt.Errorf("%s: %s with %d arguments", name, fn.Sel.Name, len(call.Args))
					return false
				}
				typeName, ok := stringLit(call.Args[0])
				if !ok {
					ferr = fmt.Errorf("%s: %s name is not a string literal", name, fn.Sel.Name)
					return false
				}
				var def string
				var versions []registration
				ast.Inspect(call.Args[1], func(n ast.Node) bool {
					lit, ok := n.(*ast.CompositeLit)
					if !ok {
						return true
					}
					var ver, pkg string
					for _, el := range lit.Elts {
						kv, ok := el.(*ast.KeyValueExpr)
						if !ok {
							continue
						}
						key, _ := kv.Key.(*ast.Ident)
						if key == nil {
							continue
						}
						switch key.Name {
						case "Version":
							ver, _ = stringLit(kv.Value)
						case "Constructor":
							pkg = constructorPackage(kv.Value, imports)
						case "Default":
							def, _ = stringLit(kv.Value)
						}
					}
					if ver != "" {
						r := base
						r.Type, r.Version, r.Package = category+"."+strings.ToLower(typeName), strings.ToLower(ver), pkg
						versions = append(versions, r)
					}
					return true
				})
				for _, r := range versions {
					r.DefaultVersion = strings.ToLower(def)
					out = append(out, r)
				}
				return false
			}

			if len(call.Args) < 2 {
				ferr = fmt.Errorf("%s: %s with %d arguments", name, fn.Sel.Name, len(call.Args))
				return false
			}
			pkg := constructorPackage(call.Args[0], imports)
			for _, a := range call.Args[1:] {
				typeName, ok := stringLit(a)
				if !ok {
					ferr = fmt.Errorf("%s: %s name is not a string literal", name, fn.Sel.Name)
					return false
				}
				r := base
				r.Type, r.Package = category+"."+strings.ToLower(typeName), pkg
				out = append(out, r)
			}
			return false
		})
		if ferr != nil {
			return nil, fmt.Errorf("daprd registrations: %w", ferr)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no component registrations in %s", dir)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].Version < out[j].Version
	})
	return out, nil
}

func hasBuildConstraint(f *ast.File) bool {
	for _, g := range f.Comments {
		if g.Pos() >= f.Package {
			break
		}
		for _, c := range g.List {
			if strings.HasPrefix(c.Text, "//go:build") || strings.HasPrefix(c.Text, "// +build") {
				return true
			}
		}
	}
	return false
}

func stringLit(e ast.Expr) (string, bool) {
	bl, ok := e.(*ast.BasicLit)
	if !ok || bl.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(bl.Value)
	return s, err == nil
}

// constructorPackage returns the import path of the components-contrib
// constructor in e: the first pkg.NewX selector (middleware registrations
// wrap it in a func literal).
func constructorPackage(e ast.Expr, imports map[string]string) string {
	var pkg, fallback string
	ast.Inspect(e, func(n ast.Node) bool {
		if pkg != "" {
			return false
		}
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		id, ok := sel.X.(*ast.Ident)
		if !ok {
			return true
		}
		p, ok := imports[id.Name]
		if !ok || !strings.HasPrefix(p, contribModule+"/") {
			return true
		}
		if strings.HasPrefix(sel.Sel.Name, "New") {
			pkg = p
		} else if fallback == "" {
			fallback = p
		}
		return true
	})
	if pkg == "" {
		return fallback
	}
	return pkg
}
