package supplychain

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// AnnotationRefName names an image in an OCI layout's index.json.
const AnnotationRefName = "org.opencontainers.image.ref.name"

// Source is where an image and what is attached to it are read from.
type Source interface {
	// Describe names the source for messages.
	Describe() string
	// Index is the image: a multi-platform index.
	Index() (v1.ImageIndex, error)
	// Referrers lists the artifact manifests whose subject is digest.
	Referrers(digest v1.Hash) ([]v1.Image, error)
}

// ParseRef turns a verify-image argument into a Source: "oci:DIR:NAME" (an
// OCI layout on disk, NAME as in its index.json, e.g. orchestrator:v1.2.0)
// or a registry reference (host/repo:tag or host/repo@sha256:...).
func ParseRef(ref string, opts ...remote.Option) (Source, error) {
	if rest, ok := strings.CutPrefix(ref, "oci:"); ok {
		dir, img, ok := strings.Cut(rest, ":")
		if !ok || dir == "" || img == "" {
			return nil, fmt.Errorf("%q: an OCI layout reference is oci:DIR:NAME[:TAG], e.g. oci:dist/oci:orchestrator", ref)
		}
		return &LayoutSource{Dir: dir, Name: img}, nil
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("%q is neither oci:DIR:NAME nor a registry reference: %w", ref, err)
	}
	return &RemoteSource{Ref: r, Options: opts}, nil
}

// LayoutSource reads an OCI image layout directory.
type LayoutSource struct {
	Dir  string
	Name string // ref.name annotation; without a tag, the only image of that name
}

func (s *LayoutSource) Describe() string { return "oci:" + s.Dir + ":" + s.Name }

func (s *LayoutSource) root() (v1.ImageIndex, error) {
	p, err := layout.FromPath(s.Dir)
	if err != nil {
		return nil, fmt.Errorf("%s is not an OCI image layout: %w", s.Dir, err)
	}
	return p.ImageIndex()
}

func (s *LayoutSource) Index() (v1.ImageIndex, error) {
	root, err := s.root()
	if err != nil {
		return nil, err
	}
	im, err := root.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("read %s/index.json: %w", s.Dir, err)
	}
	var found []v1.Descriptor
	var names []string
	for _, d := range im.Manifests {
		ref := d.Annotations[AnnotationRefName]
		if ref == "" || !d.MediaType.IsIndex() {
			continue
		}
		names = append(names, ref)
		if ref == s.Name || strings.HasPrefix(ref, s.Name+":") && !strings.Contains(s.Name, ":") {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 1:
		return root.ImageIndex(found[0].Digest)
	case 0:
		return nil, fmt.Errorf("no image %q in %s; it holds %s", s.Name, s.Dir, strings.Join(names, ", "))
	default:
		return nil, fmt.Errorf("%q names %d images in %s; add the tag (%s)", s.Name, len(found), s.Dir, strings.Join(names, ", "))
	}
}

func (s *LayoutSource) Referrers(digest v1.Hash) ([]v1.Image, error) {
	root, err := s.root()
	if err != nil {
		return nil, err
	}
	im, err := root.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []v1.Image
	for _, d := range im.Manifests {
		if d.MediaType != types.OCIManifestSchema1 {
			continue
		}
		img, err := root.Image(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("read manifest %s: %w", d.Digest, err)
		}
		m, err := img.Manifest()
		if err != nil {
			return nil, fmt.Errorf("read manifest %s: %w", d.Digest, err)
		}
		if m.Subject != nil && m.Subject.Digest == digest {
			out = append(out, img)
		}
	}
	return out, nil
}

// RemoteSource reads a registry (the OCI 1.1 referrers API, or the
// sha256-<hex> tag where the registry has none).
type RemoteSource struct {
	Ref     name.Reference
	Options []remote.Option
}

func (s *RemoteSource) Describe() string { return s.Ref.String() }

func (s *RemoteSource) Index() (v1.ImageIndex, error) {
	idx, err := remote.Index(s.Ref, s.Options...)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", s.Ref, err)
	}
	return idx, nil
}

func (s *RemoteSource) Referrers(digest v1.Hash) ([]v1.Image, error) {
	d := s.Ref.Context().Digest(digest.String())
	idx, err := remote.Referrers(d, s.Options...)
	if err != nil {
		return nil, fmt.Errorf("list what refers to %s: %w", d, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []v1.Image
	for _, m := range im.Manifests {
		img, err := remote.Image(s.Ref.Context().Digest(m.Digest.String()), s.Options...)
		if err != nil {
			return nil, fmt.Errorf("fetch referrer %s: %w", m.Digest, err)
		}
		out = append(out, img)
	}
	return out, nil
}

// readEnvelope returns the one DSSE layer of an artifact manifest, checked
// against its digest.
func readEnvelope(img v1.Image) ([]byte, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	if len(layers) != 1 {
		return nil, fmt.Errorf("artifact has %d layers; one DSSE envelope expected", len(layers))
	}
	mt, err := layers[0].MediaType()
	if err != nil {
		return nil, err
	}
	if mt != MediaTypeDSSE {
		return nil, fmt.Errorf("artifact layer is %s, not a DSSE envelope", mt)
	}
	want, err := layers[0].Digest()
	if err != nil {
		return nil, err
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		return nil, err
	}
	if got, _, _ := v1.SHA256(strings.NewReader(string(b))); got != want {
		return nil, errors.New("artifact layer does not match its digest (changed after signing?)")
	}
	return b, nil
}

// Attached returns the image's digest and the artifacts of one type
// attached to it (ArtifactSignature, ArtifactSBOM, ArtifactProvenance).
func Attached(src Source, artifactType string) (v1.Hash, []v1.Image, error) {
	idx, err := src.Index()
	if err != nil {
		return v1.Hash{}, nil, err
	}
	d, err := idx.Digest()
	if err != nil {
		return v1.Hash{}, nil, err
	}
	refs, err := src.Referrers(d)
	if err != nil {
		return d, nil, err
	}
	out, err := ofType(refs, artifactType)
	return d, out, err
}

// ofType keeps the artifacts whose artifact type (config media type) is t.
func ofType(refs []v1.Image, t string) ([]v1.Image, error) {
	var out []v1.Image
	for _, r := range refs {
		m, err := r.Manifest()
		if err != nil {
			return nil, err
		}
		if m.Config.MediaType == types.MediaType(t) {
			out = append(out, r)
		}
	}
	return out, nil
}
