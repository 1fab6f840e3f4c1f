package oci

import (
	"fmt"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/secure-agent/secure-agent/libs/supplychain"
)

// NewLayout replaces dir with an empty OCI image layout.
func NewLayout(dir string) (layout.Path, error) {
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("clear %s: %w", dir, err)
	}
	return layout.Write(dir, empty.Index)
}

// Artifact is an OCI 1.1 artifact manifest holding one DSSE envelope, whose
// subject is the image index it is about.
func Artifact(artifactType string, envelope []byte, subject v1.ImageIndex) (v1.Image, error) {
	d, err := subject.Digest()
	if err != nil {
		return nil, err
	}
	size, err := subject.Size()
	if err != nil {
		return nil, err
	}
	mt, err := subject.MediaType()
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1),
		mutate.Addendum{Layer: static.NewLayer(envelope, supplychain.MediaTypeDSSE), MediaType: supplychain.MediaTypeDSSE})
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.MediaType(artifactType))
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{})
	if err != nil {
		return nil, err
	}
	return mutate.Subject(img, v1.Descriptor{MediaType: mt, Digest: d, Size: size}).(v1.Image), nil
}
