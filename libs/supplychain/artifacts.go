package supplychain

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
