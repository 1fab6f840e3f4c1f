// Package provenance writes the SLSA v1 provenance predicate of an image
// build: what was built (the image and its platforms), from which source
// revision, with which toolchain and settings, by which builder. A locally
// signed provenance is SLSA Build L1; the build itself is hermetic apart
// from the Go module proxy, whose content go.sum pins.
package provenance

import "encoding/json"

// BuildType identifies how `make images` builds.
const BuildType = "https://github.com/secure-agent/secure-agent/blob/main/docs/supply-chain.md#build-type-v1"

// Input describes one image build.
type Input struct {
	Image, Version, Revision, SourceURI string
	Platforms                           []string
	GoVersion                           string
	SourceDateEpoch                     int64
	BuilderID                           string
	// Dependencies beyond the source: pinned tool modules, e.g.
	// "pkg:golang/github.com/dapr/dapr@v1.16.5" → its go.sum hash.
	Dependencies []Dependency
}

// Dependency is a resolved input of the build.
type Dependency struct {
	URI    string            `json:"uri"`
	Digest map[string]string `json:"digest,omitempty"`
}

// Predicate returns the SLSA provenance v1 predicate as JSON.
func Predicate(in Input) (json.RawMessage, error) {
	deps := append([]Dependency{{URI: "git+" + in.SourceURI, Digest: map[string]string{"gitCommit": in.Revision}}}, in.Dependencies...)
	p := map[string]any{
		"buildDefinition": map[string]any{
			"buildType": BuildType,
			"externalParameters": map[string]any{
				"source":    map[string]string{"uri": in.SourceURI, "revision": in.Revision},
				"image":     in.Image,
				"version":   in.Version,
				"platforms": in.Platforms,
			},
			"internalParameters": map[string]any{
				"goVersion":       in.GoVersion,
				"cgoEnabled":      false,
				"trimpath":        true,
				"sourceDateEpoch": in.SourceDateEpoch,
			},
			"resolvedDependencies": deps,
		},
		"runDetails": map[string]any{
			"builder": map[string]string{"id": in.BuilderID},
		},
	}
	return json.Marshal(p)
}
