package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/deploy/images/internal/oci"
	"github.com/secure-agent/secure-agent/libs/supplychain"
)

// tinyBinary builds a small static Go program once per test run.
var tinyBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "images-test-bin")
	if err != nil {
		return "", err
	}
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\nfunc main() { println(\"hello\") }\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/tiny\ngo 1.26\n"), 0o644); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "tiny")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", &exec.ExitError{Stderr: b}
	}
	return out, nil
})

func keyPair(t *testing.T) (priv, pub string) {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	pubDER, err := x509.MarshalPKIXPublicKey(k.Public())
	require.NoError(t, err)
	dir := t.TempDir()
	priv, pub = filepath.Join(dir, "key.pem"), filepath.Join(dir, "key.pub")
	require.NoError(t, os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644))
	return priv, pub
}

// build runs the image builder on the tiny binary (named orchestrator and
// health) for both platforms into a new dist dir and returns it.
func build(t *testing.T, keyFile string) string {
	t.Helper()
	bin, err := tinyBinary()
	require.NoError(t, err)
	dist := t.TempDir()
	for _, p := range []string{"linux_amd64", "linux_arm64"} {
		d := filepath.Join(dist, "bin", p)
		require.NoError(t, os.MkdirAll(d, 0o755))
		b, err := os.ReadFile(bin)
		require.NoError(t, err)
		for _, n := range []string{"orchestrator", "health"} {
			require.NoError(t, os.WriteFile(filepath.Join(d, n), b, 0o755))
		}
	}
	args := []string{"-out", filepath.Join(dist, "oci"), "-bin", filepath.Join(dist, "bin"), "-images", "orchestrator,health",
		"-version", "v0.0.0-test", "-revision", "0123456789abcdef0123456789abcdef01234567", "-source-date-epoch", "1700000000"}
	if keyFile != "" {
		args = append(args, "-key", keyFile)
	}
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), args, func(string) string { return "" }, &out))
	require.Contains(t, out.String(), "orchestrator")
	return dist
}

func verify(t *testing.T, dist, img, pubFile string) supplychain.Report {
	t.Helper()
	b, err := os.ReadFile(pubFile)
	require.NoError(t, err)
	key, err := supplychain.ParsePublicKey(b)
	require.NoError(t, err)
	src, err := supplychain.ParseRef("oci:" + filepath.Join(dist, "oci") + ":" + img)
	require.NoError(t, err)
	return supplychain.Verify(context.Background(), src, key)
}

func check(r supplychain.Report, name string) supplychain.Check {
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	return supplychain.Check{Name: name, Detail: "not run"}
}

func TestSameInputsSameDigests(t *testing.T) {
	priv, _ := keyPair(t)
	a, b := build(t, priv), build(t, priv)
	da, err := os.ReadFile(filepath.Join(a, "digests.txt"))
	require.NoError(t, err)
	db, err := os.ReadFile(filepath.Join(b, "digests.txt"))
	require.NoError(t, err)
	require.Equal(t, string(da), string(db))
	require.Len(t, strings.Fields(string(da)), 2)
}

func TestImageConfig(t *testing.T) {
	dist := build(t, "")
	p, err := layout.FromPath(filepath.Join(dist, "oci"))
	require.NoError(t, err)
	root, err := p.ImageIndex()
	require.NoError(t, err)
	im, err := root.IndexManifest()
	require.NoError(t, err)
	require.Len(t, im.Manifests, 2, "unsigned: only the two images, no attachments")
	idx, err := root.ImageIndex(im.Manifests[0].Digest)
	require.NoError(t, err)
	m, err := idx.IndexManifest()
	require.NoError(t, err)
	var platforms []string
	for _, d := range m.Manifests {
		platforms = append(platforms, d.Platform.String())
		img, err := idx.Image(d.Digest)
		require.NoError(t, err)
		cf, err := img.ConfigFile()
		require.NoError(t, err)
		require.Equal(t, "65532:65532", cf.Config.User)
		require.Equal(t, []string{"/orchestrator"}, cf.Config.Entrypoint)
		require.Equal(t, "v0.0.0-test", cf.Config.Labels["org.opencontainers.image.version"])
		require.Equal(t, "Apache-2.0", cf.Config.Labels["org.opencontainers.image.licenses"])
		require.Equal(t, int64(1700000000), cf.Created.Unix())
		files := layerFiles(t, img)
		require.Equal(t, "dir 1777 0:0", files["/tmp"])
		require.Equal(t, "reg 644 0:0", files[oci.CABundlePath])
		require.Equal(t, "reg 755 0:0", files["/orchestrator"])
		require.NotContains(t, files, "/bin/sh")
	}
	require.ElementsMatch(t, []string{"linux/amd64", "linux/arm64"}, platforms)
	for _, f := range []string{"orchestrator.cdx.json", "orchestrator.slsa.json"} {
		_, err := os.Stat(filepath.Join(dist, "attestations", f))
		require.NoError(t, err, "unsigned builds keep the SBOM and provenance beside the layout")
	}
	// The SBOM as CycloneDX's own decoder reads it.
	f, err := os.Open(filepath.Join(dist, "attestations", "orchestrator.cdx.json"))
	require.NoError(t, err)
	defer f.Close()
	var bom cdx.BOM
	require.NoError(t, cdx.NewBOMDecoder(f, cdx.BOMFileFormatJSON).Decode(&bom))
	require.Equal(t, cdx.SpecVersion1_6, bom.SpecVersion)
	require.Equal(t, "secure-agent/orchestrator", bom.Metadata.Component.Name)
	apps, std, ca := 0, false, false
	for _, c := range *bom.Components {
		switch {
		case c.Type == cdx.ComponentTypeApplication && c.Name == "orchestrator":
			apps++
			require.Len(t, *c.Hashes, 1)
			require.Equal(t, cdx.HashAlgoSHA256, (*c.Hashes)[0].Algorithm)
		case c.Name == "std":
			std = strings.HasPrefix(c.PackageURL, "pkg:golang/std@go")
		case c.Type == cdx.ComponentTypeData && c.Name == "ca-certificates":
			ca = true
		}
	}
	require.Equal(t, 2, apps, "one orchestrator binary per platform")
	require.True(t, std, "the Go standard library is listed")
	require.True(t, ca, "the CA bundle is listed")
}

func TestVerify(t *testing.T) {
	priv, pub := keyPair(t)
	dist := build(t, priv)
	r := verify(t, dist, "orchestrator", pub)
	require.True(t, r.OK(), "%+v", r.Checks)
	require.Contains(t, check(r, "SBOM").Detail, "lists every binary")

	t.Run("wrong key", func(t *testing.T) {
		_, other := keyPair(t)
		r := verify(t, dist, "orchestrator", other)
		require.False(t, r.OK())
		require.True(t, check(r, "content").OK)
		for _, n := range []string{"signature", "SBOM", "provenance"} {
			require.Contains(t, check(r, n).Detail, "does not verify with the given public key", n)
		}
	})
	t.Run("tampered layer", func(t *testing.T) {
		dist := build(t, priv)
		tamperBinaryLayer(t, dist)
		r := verify(t, dist, "orchestrator", pub)
		require.False(t, check(r, "content").OK)
		require.Contains(t, check(r, "content").Detail, "does not match its digests")
	})
	t.Run("missing SBOM", func(t *testing.T) {
		dist := build(t, priv)
		dropArtifacts(t, dist, supplychain.ArtifactSBOM)
		r := verify(t, dist, "orchestrator", pub)
		require.True(t, check(r, "signature").OK)
		require.False(t, check(r, "SBOM").OK)
		require.Contains(t, check(r, "SBOM").Detail, "missing: no SBOM is attached")
	})
	t.Run("provenance of another image", func(t *testing.T) {
		dist := build(t, priv)
		moveProvenance(t, dist, "health", "orchestrator")
		r := verify(t, dist, "orchestrator", pub)
		require.True(t, check(r, "signature").OK)
		require.False(t, check(r, "provenance").OK)
		require.Contains(t, check(r, "provenance").Detail, "made for another image")
	})
}
