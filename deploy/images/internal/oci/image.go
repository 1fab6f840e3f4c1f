package oci

import (
	"fmt"
	"path"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Spec describes one image.
type Spec struct {
	Name        string   // e.g. orchestrator
	Binaries    []string // file names in each platform's binary dir; the first is the entrypoint
	Description string
}

// Platform is one OS/architecture and the directory holding its binaries.
type Platform struct {
	OS, Arch string
	BinDir   string
}

func (p Platform) String() string { return p.OS + "/" + p.Arch }

// Meta is what every image is labelled with.
type Meta struct {
	Version, Revision, Source, Licenses string
	Epoch                               time.Time // SOURCE_DATE_EPOCH
}

// Labels are the OCI annotations on an image's config and index.
func (m Meta) Labels(s Spec) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "secure-agent " + s.Name,
		"org.opencontainers.image.description": s.Description,
		"org.opencontainers.image.source":      m.Source,
		"org.opencontainers.image.version":     m.Version,
		"org.opencontainers.image.revision":    m.Revision,
		"org.opencontainers.image.licenses":    m.Licenses,
		"org.opencontainers.image.created":     m.Epoch.UTC().Format(time.RFC3339),
	}
}

// Build assembles the image for each platform on top of base and returns
// the multi-platform index.
func Build(s Spec, base v1.Layer, platforms []Platform, m Meta) (v1.ImageIndex, error) {
	if len(s.Binaries) == 0 {
		return nil, fmt.Errorf("image %s has no binaries", s.Name)
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range platforms {
		var files []File
		for _, b := range s.Binaries {
			files = append(files, File{Path: "/" + b, Mode: 0o755, Source: path.Join(p.BinDir, b)})
		}
		bins, err := Layer(files, m.Epoch)
		if err != nil {
			return nil, fmt.Errorf("image %s for %s: %w", s.Name, p, err)
		}
		img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1),
			mutate.Addendum{Layer: base, MediaType: types.OCILayer},
			mutate.Addendum{Layer: bins, MediaType: types.OCILayer})
		if err != nil {
			return nil, err
		}
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = p.OS, p.Arch
		cf.Created = v1.Time{Time: m.Epoch.UTC()}
		cf.History = nil
		cf.Config = v1.Config{
			User:       fmt.Sprintf("%d:%d", NonRoot, NonRoot),
			Entrypoint: []string{"/" + s.Binaries[0]},
			WorkingDir: "/home/nonroot",
			Env: []string{
				"PATH=/",
				"HOME=/home/nonroot",
				"SSL_CERT_FILE=" + CABundlePath,
				"TMPDIR=/tmp",
			},
			Labels: m.Labels(s),
		}
		img, err = mutate.ConfigFile(img, cf)
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: p.OS, Architecture: p.Arch}},
		})
	}
	return mutate.Annotations(idx, m.Labels(s)).(v1.ImageIndex), nil
}
