package e2e

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/supplychain"
)

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "oci")
	require.NoError(t, os.CopyFS(dst, os.DirFS(src)))
	return dst
}

// flipLayerByte corrupts the binary layer of the first platform image.
func flipLayerByte(t *testing.T, l, img string) {
	t.Helper()
	idx := imageIndex(t, l, img)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	i, err := idx.Image(im.Manifests[0].Digest)
	require.NoError(t, err)
	m, err := i.Manifest()
	require.NoError(t, err)
	blob := filepath.Join(l, "blobs", "sha256", m.Layers[len(m.Layers)-1].Digest.Hex)
	b, err := os.ReadFile(blob)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x01
	require.NoError(t, os.Chmod(blob, 0o644))
	require.NoError(t, os.WriteFile(blob, b, 0o644))
}

// attached lists the artifacts of one type attached to an image.
func attached(t *testing.T, l, img, artifactType string) []v1.Image {
	t.Helper()
	src, err := supplychain.ParseRef("oci:" + l + ":" + img)
	require.NoError(t, err)
	_, out, err := supplychain.Attached(src, artifactType)
	require.NoError(t, err)
	return out
}

func removeArtifacts(t *testing.T, l, artifactType string) {
	t.Helper()
	p, err := layout.FromPath(l)
	require.NoError(t, err)
	var ds []v1.Hash
	for _, img := range []string{"health", "agentctl"} {
		for _, a := range attached(t, l, img, artifactType) {
			d, err := a.Digest()
			require.NoError(t, err)
			ds = append(ds, d)
		}
	}
	require.NotEmpty(t, ds)
	require.NoError(t, p.RemoveDescriptors(match.Digests(ds...)))
}

// swapProvenance attaches from's signed provenance to to, in place of to's own.
func swapProvenance(t *testing.T, l, from, to string) {
	t.Helper()
	theirs := attached(t, l, from, supplychain.ArtifactProvenance)
	ours := attached(t, l, to, supplychain.ArtifactProvenance)
	require.Len(t, theirs, 1)
	require.Len(t, ours, 1)
	layers, err := theirs[0].Layers()
	require.NoError(t, err)
	rc, err := layers[0].Compressed()
	require.NoError(t, err)
	env, err := io.ReadAll(rc)
	require.NoError(t, err)
	rc.Close()
	p, err := layout.FromPath(l)
	require.NoError(t, err)
	d, err := ours[0].Digest()
	require.NoError(t, err)
	require.NoError(t, p.RemoveDescriptors(match.Digests(d)))
	art, err := supplychain.NewArtifact(supplychain.ArtifactProvenance, env, imageIndex(t, l, to))
	require.NoError(t, err)
	require.NoError(t, p.AppendImage(art))
}

// startRegistry serves an OCI registry (with the referrers API) on loopback.
func startRegistry(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: registry.New(registry.WithReferrersSupport(true))}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}
