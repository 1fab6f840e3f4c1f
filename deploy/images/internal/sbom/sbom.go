// Package sbom writes a CycloneDX bill of materials for an image from what
// its binaries say about themselves (Go build info): every binary with its
// sha256, every module compiled into it, the Go standard library, and the CA
// bundle. Modules the project patches (the Dapr runtime) are marked as
// modified, with their patches as pedigree.
package sbom

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// Binary is one executable in the image.
type Binary struct {
	Platform string // linux/amd64
	Path     string // in the image, e.g. /orchestrator
	File     string // on the build host
}

// Data is a non-code component of the image (the CA bundle).
type Data struct {
	Name, Version, Description string
	SHA256                     string
}

// Input is everything an image's SBOM describes.
type Input struct {
	Image, Version string
	Epoch          time.Time
	Binaries       []Binary
	Data           []Data
	// Patches maps a module path the build replaces with a patched copy to
	// the patch files (repository paths) applied to it.
	Patches map[string][]string
}

// Generate returns the BOM as JSON (CycloneDX 1.6).
func Generate(in Input) ([]byte, error) {
	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:" + uuidFrom(in.Image+"@"+in.Version)
	bom.Metadata = &cdx.Metadata{
		Timestamp: in.Epoch.UTC().Format(time.RFC3339),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type: cdx.ComponentTypeApplication, Name: "secure-agent deploy/images",
		}}},
		Component: &cdx.Component{
			BOMRef:  "image:" + in.Image,
			Type:    cdx.ComponentTypeContainer,
			Name:    "secure-agent/" + in.Image,
			Version: in.Version,
		},
	}
	var comps []cdx.Component
	var deps []cdx.Dependency
	modules := map[string]cdx.Component{}
	modDeps := map[string]bool{}
	var imageDeps []string
	for _, b := range in.Binaries {
		info, err := buildinfo.ReadFile(b.File)
		if err != nil {
			return nil, fmt.Errorf("SBOM of %s: %s has no Go build info: %w", in.Image, b.File, err)
		}
		raw, err := os.ReadFile(b.File)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(raw)
		ref := "binary:" + b.Platform + b.Path
		imageDeps = append(imageDeps, ref)
		props := []cdx.Property{{Name: "secure-agent:platform", Value: b.Platform}, {Name: "secure-agent:path", Value: b.Path}}
		for _, s := range info.Settings {
			switch s.Key {
			case "CGO_ENABLED", "GOOS", "GOARCH", "-trimpath", "-tags", "-ldflags", "GOAMD64", "GOARM64":
				props = append(props, cdx.Property{Name: "go:build:" + s.Key, Value: s.Value})
			}
		}
		comps = append(comps, cdx.Component{
			BOMRef:     ref,
			Type:       cdx.ComponentTypeApplication,
			Name:       filepath.Base(b.Path),
			Version:    in.Version,
			Hashes:     &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: hex.EncodeToString(sum[:])}},
			PackageURL: purl(info.Main.Path, in.Version),
			Properties: &props,
		})
		var on []string
		std := "pkg:golang/std@" + info.GoVersion
		if _, ok := modules[std]; !ok {
			modules[std] = cdx.Component{BOMRef: std, Type: cdx.ComponentTypeLibrary, Name: "std", Version: info.GoVersion, PackageURL: std,
				Description: "the Go standard library and runtime"}
		}
		on = append(on, std)
		for _, m := range info.Deps {
			c := module(m, in.Patches)
			if _, ok := modules[c.BOMRef]; !ok {
				modules[c.BOMRef] = c
			}
			on = append(on, c.BOMRef)
		}
		slices.Sort(on)
		on = slices.Compact(on)
		deps = append(deps, cdx.Dependency{Ref: ref, Dependencies: &on})
		for _, r := range on {
			modDeps[r] = true
		}
	}
	for _, d := range in.Data {
		ref := "data:" + d.Name
		imageDeps = append(imageDeps, ref)
		comps = append(comps, cdx.Component{
			BOMRef: ref, Type: cdx.ComponentTypeData, Name: d.Name, Version: d.Version, Description: d.Description,
			Hashes: &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: d.SHA256}},
		})
	}
	refs := make([]string, 0, len(modules))
	for r := range modules {
		refs = append(refs, r)
	}
	sort.Strings(refs)
	for _, r := range refs {
		comps = append(comps, modules[r])
	}
	bom.Components = &comps
	sort.Strings(imageDeps)
	deps = append([]cdx.Dependency{{Ref: "image:" + in.Image, Dependencies: &imageDeps}}, deps...)
	bom.Dependencies = &deps
	var buf bytes.Buffer
	enc := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON)
	enc.SetPretty(false)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
		return nil, fmt.Errorf("encode SBOM of %s: %w", in.Image, err)
	}
	return buf.Bytes(), nil
}

// module is a dependency as a component. A module replaced by a local
// directory is the project's patched copy of the original version.
func module(m *debugModule, patches map[string][]string) cdx.Component {
	c := cdx.Component{
		Type:       cdx.ComponentTypeLibrary,
		Name:       m.Path,
		Version:    m.Version,
		PackageURL: purl(m.Path, m.Version),
	}
	if m.Sum != "" {
		c.Properties = &[]cdx.Property{{Name: "go:module:sum", Value: m.Sum}}
	}
	if r := m.Replace; r != nil {
		if r.Version != "" { // replaced by another published module
			c.Name, c.Version, c.PackageURL = r.Path, r.Version, purl(r.Path, r.Version)
			c.Description = "replaces " + m.Path + " " + m.Version
			if r.Sum != "" {
				c.Properties = &[]cdx.Property{{Name: "go:module:sum", Value: r.Sum}}
			}
		} else { // a patched local copy
			modified := true
			c.Modified = &modified
			c.Description = "patched by secure-agent (see deploy/dapr-runtime and docs/adr/0002)"
			var ps []cdx.Patch
			for _, p := range patches[m.Path] {
				ps = append(ps, cdx.Patch{Type: cdx.PatchTypeBackport, Diff: &cdx.Diff{URL: p}})
			}
			if len(ps) > 0 {
				c.Pedigree = &cdx.Pedigree{Patches: &ps}
			}
		}
	}
	c.BOMRef = c.PackageURL
	if c.Modified != nil {
		c.BOMRef = "patched:" + c.PackageURL
	}
	return c
}

type debugModule = debug.Module

func purl(path, version string) string {
	return "pkg:golang/" + strings.ToLower(path) + "@" + version
}

// uuidFrom derives a stable version-5-style UUID from s, so the same build
// gives the same BOM.
func uuidFrom(s string) string {
	h := sha256.Sum256([]byte(s))
	h[6] = (h[6] & 0x0f) | 0x50
	h[8] = (h[8] & 0x3f) | 0x80
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}
