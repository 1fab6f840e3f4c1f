package supplychain

import (
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Artifact types of what is attached to an image index as an OCI 1.1
// referrer. Each artifact manifest has the artifact type as its config media
// type (config "{}") and one layer: the DSSE envelope.
const (
	ArtifactSignature  = "application/vnd.secure-agent.signature.v1"
	ArtifactSBOM       = "application/vnd.secure-agent.sbom.cyclonedx.v1"
	ArtifactProvenance = "application/vnd.secure-agent.provenance.slsa.v1"
	MediaTypeDSSE      = "application/vnd.dsse.envelope.v1+json"
)

// Attachment is one kind of signed artifact an image must carry.
type Attachment struct {
	Name          string // what verify-image calls it
	ArtifactType  string
	PredicateType string
}

// Attachments are the three an image must carry, in the order they are checked.
var Attachments = []Attachment{
	{Name: "signature", ArtifactType: ArtifactSignature, PredicateType: PredicateSignature},
	{Name: "SBOM", ArtifactType: ArtifactSBOM, PredicateType: PredicateSBOM},
	{Name: "provenance", ArtifactType: ArtifactProvenance, PredicateType: PredicateSLSA},
}

// NewArtifact is an OCI 1.1 artifact manifest holding one DSSE envelope, whose
// subject is the image index it is about.
func NewArtifact(artifactType string, envelope []byte, subject v1.ImageIndex) (v1.Image, error) {
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
		mutate.Addendum{Layer: static.NewLayer(envelope, MediaTypeDSSE), MediaType: MediaTypeDSSE})
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
