package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"debug/elf"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/supplychain"
)

// Images and what each must hold; built by `make images` into dist/ before
// the integration tests run.
var images = map[string][]string{
	"orchestrator": {"/orchestrator"},
	"extractor":    {"/extractor"},
	"publisher":    {"/publisher"},
	"health":       {"/health"},
	"agentctl":     {"/agentctl"},
	"daprd":        {"/daprd", "/placement", "/scheduler", "/sentry"},
}

func distDir(t *testing.T) string {
	t.Helper()
	d := filepath.Join(root(t), "dist")
	if _, err := os.Stat(filepath.Join(d, "oci", "index.json")); err != nil {
		t.Fatalf("no images in %s: run `make images` first (make test does): %v", d, err)
	}
	return d
}

func imageIndex(t *testing.T, layout, name string) v1.ImageIndex {
	t.Helper()
	src, err := supplychain.ParseRef("oci:" + layout + ":" + name)
	require.NoError(t, err)
	idx, err := src.Index()
	require.NoError(t, err)
	return idx
}

// imageFile is one entry of an image's flattened layers.
type imageFile struct {
	hdr     *tar.Header
	content []byte // regular files
}

func imageFiles(t *testing.T, img v1.Image) map[string]imageFile {
	t.Helper()
	layers, err := img.Layers()
	require.NoError(t, err)
	out := map[string]imageFile{}
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
			f := imageFile{hdr: h}
			if h.Typeflag == tar.TypeReg {
				f.content, err = io.ReadAll(tr)
				require.NoError(t, err)
			}
			out["/"+strings.TrimSuffix(h.Name, "/")] = f
		}
		rc.Close()
	}
	return out
}

// TestImageContents checks what a security review asks of every image:
// static binaries for the right machine, a numeric non-root user, no shell,
// a CA bundle, a sticky /tmp, labels.
func TestImageContents(t *testing.T) {
	t.Parallel()
	layout := filepath.Join(distDir(t), "oci")
	for name, bins := range images {
		idx := imageIndex(t, layout, name)
		im, err := idx.IndexManifest()
		require.NoError(t, err)
		var platforms []string
		for _, d := range im.Manifests {
			platform := d.Platform.String()
			platforms = append(platforms, platform)
			img, err := idx.Image(d.Digest)
			require.NoError(t, err)
			cf, err := img.ConfigFile()
			require.NoError(t, err)
			where := name + " " + platform
			require.Equal(t, "65532:65532", cf.Config.User, where)
			require.Equal(t, []string{bins[0]}, cf.Config.Entrypoint, where)
			for _, l := range []string{"source", "version", "revision", "licenses"} {
				require.NotEmpty(t, cf.Config.Labels["org.opencontainers.image."+l], "%s: label %s", where, l)
			}
			files := imageFiles(t, img)
			for p := range files {
				base := filepath.Base(p)
				require.NotContains(t, []string{"sh", "bash", "ash", "dash", "busybox", "su", "sudo"}, base, "%s holds a shell or privilege tool: %s", where, p)
			}
			require.Equal(t, int64(0o1777), files["/tmp"].hdr.Mode&0o7777, "%s: /tmp is sticky and world-writable", where)
			require.Contains(t, string(files["/etc/passwd"].content), "nonroot:x:65532:65532:", where)
			ca := files["/etc/ssl/certs/ca-certificates.crt"].content
			n := 0
			for rest := ca; ; n++ {
				var b *pem.Block
				if b, rest = pem.Decode(rest); b == nil {
					break
				}
				_, err := x509.ParseCertificate(b.Bytes)
				require.NoError(t, err, where)
			}
			require.Greater(t, n, 100, "%s: CA bundle has %d certificates", where, n)
			var execs []string
			for p, f := range files {
				if f.hdr.Typeflag == tar.TypeReg && f.hdr.Mode&0o111 != 0 {
					execs = append(execs, p)
					requireStatic(t, where+" "+p, f.content, d.Platform.Architecture)
					require.Zero(t, f.hdr.Mode&0o6000, "%s %s: setuid/setgid", where, p)
				}
			}
			require.ElementsMatch(t, bins, execs, where)
		}
		require.ElementsMatch(t, builtPlatforms(t), platforms, name)
	}
}

// builtPlatforms are the platforms make built the images for: PLATFORMS,
// which the Makefile passes (the default lives there, not here).
func builtPlatforms(t *testing.T) []string {
	t.Helper()
	p := strings.Fields(os.Getenv("PLATFORMS"))
	require.NotEmpty(t, p, "PLATFORMS must be set as make images had it (make test passes it)")
	return p
}

// requireStatic fails unless b is an ELF executable for arch with no
// interpreter and no shared libraries.
func requireStatic(t *testing.T, what string, b []byte, arch string) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(b))
	require.NoError(t, err, what)
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	require.Equal(t, want, f.Machine, what)
	for _, p := range f.Progs {
		require.NotEqual(t, elf.PT_INTERP, p.Type, "%s is dynamically linked (has an ELF interpreter)", what)
	}
	libs, err := f.ImportedLibraries()
	require.NoError(t, err, what)
	require.Empty(t, libs, "%s needs shared libraries", what)
}

// TestImagesReproducible builds the images a second time from the same
// commit into another directory: every digest must be the same.
func TestImagesReproducible(t *testing.T) {
	t.Parallel()
	dist := distDir(t)
	first, err := os.ReadFile(filepath.Join(dist, "digests.txt"))
	require.NoError(t, err)
	second := t.TempDir()
	cmd := exec.Command(filepath.Join(root(t), "deploy", "images", "build.sh"))
	cmd.Env = append(os.Environ(), "DIST="+second)
	for _, k := range []string{"VERSION", "REVISION", "SOURCE_DATE_EPOCH"} {
		v := os.Getenv(k)
		require.NotEmpty(t, v, "%s must be set as make images had it (make test passes it)", k)
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	again, err := os.ReadFile(filepath.Join(second, "digests.txt"))
	require.NoError(t, err)
	require.Equal(t, string(first), string(again), "the same commit built twice gives the same image digests")
	t.Logf("REPRODUCIBLE %d images, identical digests:\n%s", len(strings.Fields(string(first))), first)
}

func writeKeyPair(t *testing.T) (priv, pub string) {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	pubDER, err := x509.MarshalPKIXPublicKey(k.Public())
	require.NoError(t, err)
	dir := t.TempDir()
	priv, pub = filepath.Join(dir, "signing.pem"), filepath.Join(dir, "signing.pub")
	require.NoError(t, os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644))
	return priv, pub
}

// signedImages builds signed images from dist/bin into a new layout with
// the image builder make images left in dist/bin, as a release would with
// the operator's key.
func signedImages(t *testing.T, keyFile string, only string, extra ...string) string {
	t.Helper()
	dist := distDir(t)
	out := filepath.Join(t.TempDir(), "oci")
	cmd := exec.Command(filepath.Join(dist, "bin", "images"), append([]string{"-out", out, "-bin", filepath.Join(dist, "bin"), "-images", only,
		"-platforms", strings.Join(builtPlatforms(t), ","), "-version", "v0.0.0-e2e", "-revision", "0123456789abcdef0123456789abcdef01234567", "-source-date-epoch", "1700000000", "-key", keyFile}, extra...)...)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	return out
}

func verifyImage(t *testing.T, ref, pub string) agentctlResult {
	t.Helper()
	cmd := exec.Command(filepath.Join(root(t), "bin", "agentctl"), "verify-image", ref, "--key", pub)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		require.NoError(t, err)
	}
	return agentctlResult{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// TestVerifyImage runs agentctl verify-image as an operator would: a signed
// image passes; a tampered layer, a wrong key, a missing SBOM and a
// provenance made for another image each fail with their reason; the same
// images pushed to a registry on loopback and read back verify too.
func TestVerifyImage(t *testing.T) {
	t.Parallel()
	priv, pub := writeKeyPair(t)
	layout := signedImages(t, priv, "health,agentctl")
	ok := verifyImage(t, "oci:"+layout+":health", pub)
	require.Equal(t, 0, ok.code, "%s%s", ok.stdout, ok.stderr)
	for _, line := range []string{"content     ok", "signature   ok", "sbom        ok", "provenance  ok"} {
		require.Contains(t, ok.stdout, line)
	}
	t.Logf("verify-image of a signed image:\n%s", ok.stdout)

	t.Run("wrong key", func(t *testing.T) {
		_, other := writeKeyPair(t)
		r := verifyImage(t, "oci:"+layout+":health", other)
		require.Equal(t, 1, r.code)
		require.Contains(t, r.stdout, "signature   FAILED signature does not verify with the given public key")
		require.Contains(t, r.stderr, "does not verify: signature, sbom, provenance failed")
	})
	t.Run("tampered layer", func(t *testing.T) {
		l := copyDir(t, layout)
		flipLayerByte(t, l, "agentctl")
		r := verifyImage(t, "oci:"+l+":agentctl", pub)
		require.Equal(t, 1, r.code)
		require.Contains(t, r.stdout, "content     FAILED content does not match its digests")
	})
	t.Run("missing SBOM", func(t *testing.T) {
		l := copyDir(t, layout)
		removeArtifacts(t, l, supplychain.ArtifactSBOM)
		r := verifyImage(t, "oci:"+l+":health", pub)
		require.Equal(t, 1, r.code)
		require.Contains(t, r.stdout, "sbom        FAILED missing: no SBOM is attached to sha256:")
		require.Contains(t, r.stdout, "signature   ok")
	})
	t.Run("provenance for another digest", func(t *testing.T) {
		l := copyDir(t, layout)
		swapProvenance(t, l, "agentctl", "health")
		r := verifyImage(t, "oci:"+l+":health", pub)
		require.Equal(t, 1, r.code)
		require.Contains(t, r.stdout, "provenance  FAILED made for another image")
	})
	t.Run("through a registry", func(t *testing.T) {
		reg := startRegistry(t)
		signedImages(t, priv, "health", "-push", reg+"/secure-agent") // what IMAGE_REGISTRY=... make images does
		r := verifyImage(t, reg+"/secure-agent/health:v0.0.0-e2e", pub)
		require.Equal(t, 0, r.code, "%s%s", r.stdout, r.stderr)
		require.Contains(t, r.stdout, "provenance  ok")
		_, other := writeKeyPair(t)
		require.Equal(t, 1, verifyImage(t, reg+"/secure-agent/health:v0.0.0-e2e", other).code)
	})
}
