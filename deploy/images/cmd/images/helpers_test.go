package main

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/supplychain"
)

// layerFiles maps every path in img to "type mode uid:gid".
func layerFiles(t *testing.T, img v1.Image) map[string]string {
	t.Helper()
	layers, err := img.Layers()
	require.NoError(t, err)
	out := map[string]string{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		require.NoError(t, err)
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			kind := "reg"
			if h.Typeflag == tar.TypeDir {
				kind = "dir"
			}
			p := "/" + filepath.Clean(h.Name)
			out[p] = fmt.Sprintf("%s %o %d:%d", kind, h.Mode, h.Uid, h.Gid)
		}
		rc.Close()
	}
	return out
}

func layoutPath(t *testing.T, dist string) layout.Path {
	t.Helper()
	p, err := layout.FromPath(filepath.Join(dist, "oci"))
	require.NoError(t, err)
	return p
}

func imageIndex(t *testing.T, dist, name string) v1.ImageIndex {
	t.Helper()
	src, err := supplychain.ParseRef("oci:" + filepath.Join(dist, "oci") + ":" + name)
	require.NoError(t, err)
	idx, err := src.Index()
	require.NoError(t, err)
	return idx
}

// tamperBinaryLayer flips a byte in the orchestrator's binary layer blob.
func tamperBinaryLayer(t *testing.T, dist string) {
	t.Helper()
	idx := imageIndex(t, dist, "orchestrator")
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	img, err := idx.Image(im.Manifests[0].Digest)
	require.NoError(t, err)
	m, err := img.Manifest()
	require.NoError(t, err)
	blob := filepath.Join(dist, "oci", "blobs", "sha256", m.Layers[len(m.Layers)-1].Digest.Hex)
	b, err := os.ReadFile(blob)
	require.NoError(t, err)
	b[len(b)/2] ^= 0xff
	require.NoError(t, os.WriteFile(blob, b, 0o644))
}

// attachmentsOf returns the artifacts of one type whose subject is the image.
func attachmentsOf(t *testing.T, dist, name, artifactType string) []v1.Image {
	t.Helper()
	src, err := supplychain.ParseRef("oci:" + filepath.Join(dist, "oci") + ":" + name)
	require.NoError(t, err)
	_, out, err := supplychain.Attached(src, artifactType)
	require.NoError(t, err)
	return out
}

func dropArtifacts(t *testing.T, dist, artifactType string) {
	t.Helper()
	var digests []v1.Hash
	for _, n := range []string{"orchestrator", "health"} {
		for _, a := range attachmentsOf(t, dist, n, artifactType) {
			d, err := a.Digest()
			require.NoError(t, err)
			digests = append(digests, d)
		}
	}
	require.NotEmpty(t, digests)
	require.NoError(t, layoutPath(t, dist).RemoveDescriptors(match.Digests(digests...)))
}

// moveProvenance replaces to's provenance with from's envelope attached to to.
func moveProvenance(t *testing.T, dist, from, to string) {
	t.Helper()
	theirs := attachmentsOf(t, dist, from, supplychain.ArtifactProvenance)
	require.Len(t, theirs, 1)
	layers, err := theirs[0].Layers()
	require.NoError(t, err)
	rc, err := layers[0].Compressed()
	require.NoError(t, err)
	env, err := io.ReadAll(rc)
	require.NoError(t, err)
	rc.Close()
	ours := attachmentsOf(t, dist, to, supplychain.ArtifactProvenance)
	require.Len(t, ours, 1)
	d, err := ours[0].Digest()
	require.NoError(t, err)
	p := layoutPath(t, dist)
	require.NoError(t, p.RemoveDescriptors(match.Digests(d)))
	art, err := supplychain.NewArtifact(supplychain.ArtifactProvenance, env, imageIndex(t, dist, to))
	require.NoError(t, err)
	require.NoError(t, p.AppendImage(art))
}
