package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/secure-agent/secure-agent/deploy/images/internal/oci"
	"github.com/secure-agent/secure-agent/deploy/images/internal/provenance"
	"github.com/secure-agent/secure-agent/deploy/images/internal/sbom"
	"github.com/secure-agent/secure-agent/libs/supplychain"
)

// Images are what `make images` builds. Binaries are looked up in the
// platform's directory under -bin (dist/bin/linux_amd64/...).
var Images = []oci.Spec{
	{Name: "orchestrator", Binaries: []string{"orchestrator"}, Description: "secure-agent orchestrator: job API and workflows"},
	{Name: "extractor", Binaries: []string{"extractor"}, Description: "secure-agent extractor: reads catalog metadata from databases"},
	{Name: "publisher", Binaries: []string{"publisher"}, Description: "secure-agent publisher: stages, verifies and uploads extracted metadata"},
	{Name: "health", Binaries: []string{"health"}, Description: "secure-agent health: status, dead letters, heartbeats"},
	{Name: "agentctl", Binaries: []string{"agentctl"}, Description: "secure-agent command line"},
	{Name: "daprd", Binaries: []string{"daprd", "placement", "scheduler", "sentry"},
		Description: "Dapr 1.16 runtime built and patched by secure-agent (daprd sidecar; placement, scheduler, sentry)"},
}

// runtimePatches are the checked patches deploy/dapr-runtime/build.sh
// applies, by module: the daprd image's SBOM lists them as pedigree.
var runtimePatches = map[string][]string{
	"github.com/dapr/dapr": {"deploy/dapr-runtime/patches/wfengine.go.txt", "deploy/dapr-runtime/patches/workflow-orchestrator-create.go.txt",
		"deploy/dapr-runtime/patches/workflow-orchestrator-invoke.go.txt", "deploy/dapr-runtime/build.sh"},
	"github.com/dapr/durabletask-go":     {"deploy/dapr-runtime/patches/durabletask-executor.go.txt", "deploy/dapr-runtime/patches/durabletask-local-task.go.txt"},
	"github.com/dapr/components-contrib": {"deploy/dapr-runtime/patches/nameresolution-sqlite.go.txt"},
	"modernc.org/sqlite":                 {"deploy/dapr-runtime/build.sh"},
}

type config struct {
	out, bin, version, revision, source, registry string
	platforms                                     []oci.Platform
	images                                        []oci.Spec
	epoch                                         time.Time
	key                                           *supplychain.Key
}

func parse(args []string, getenv func(string) string) (config, error) {
	fs := flag.NewFlagSet("images", flag.ContinueOnError)
	var c config
	var platforms, epoch, keyFile, only string
	fs.StringVar(&c.out, "out", "dist/oci", "OCI image layout to write (replaced)")
	fs.StringVar(&c.bin, "bin", "dist/bin", "directory with one <os>_<arch> directory of static binaries per platform")
	fs.StringVar(&only, "images", "", "build only these images (comma-separated names; default all)")
	fs.StringVar(&platforms, "platforms", "linux/amd64,linux/arm64", "platforms of every image")
	fs.StringVar(&c.version, "version", "", "image version (required; the Makefile passes git describe)")
	fs.StringVar(&c.revision, "revision", "", "source commit (required)")
	fs.StringVar(&c.source, "source", "https://github.com/secure-agent/secure-agent", "source repository URL (OCI label, provenance)")
	fs.StringVar(&epoch, "source-date-epoch", getenv("SOURCE_DATE_EPOCH"), "every timestamp in the images, in Unix seconds (default $SOURCE_DATE_EPOCH)")
	fs.StringVar(&keyFile, "key", getenv("SA_SIGNING_KEY_FILE"), "PKCS#8 PEM signing key (default $SA_SIGNING_KEY_FILE; or the PEM itself in $SA_SIGNING_KEY)")
	fs.StringVar(&c.registry, "push", getenv("IMAGE_REGISTRY"), "push every image and attachment to this registry prefix, e.g. registry.example.com/secure-agent (default $IMAGE_REGISTRY)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var problems []string
	if c.version == "" {
		problems = append(problems, "-version is required")
	}
	if c.revision == "" {
		problems = append(problems, "-revision is required")
	}
	if sec, err := strconv.ParseInt(epoch, 10, 64); err != nil || sec < 0 {
		problems = append(problems, fmt.Sprintf("SOURCE_DATE_EPOCH %q is not a Unix time in seconds (the Makefile uses the commit's time: git log -1 --format=%%ct)", epoch))
	} else {
		c.epoch = time.Unix(sec, 0).UTC()
	}
	for _, p := range strings.Split(platforms, ",") {
		os_, arch, ok := strings.Cut(strings.TrimSpace(p), "/")
		if !ok || os_ != "linux" || (arch != "amd64" && arch != "arm64") {
			problems = append(problems, fmt.Sprintf("platform %q: linux/amd64 and linux/arm64 are supported", p))
			continue
		}
		c.platforms = append(c.platforms, oci.Platform{OS: os_, Arch: arch, BinDir: filepath.Join(c.bin, os_+"_"+arch)})
	}
	c.images = Images
	if only != "" {
		c.images = nil
		for _, n := range strings.Split(only, ",") {
			i := slices.IndexFunc(Images, func(s oci.Spec) bool { return s.Name == strings.TrimSpace(n) })
			if i < 0 {
				problems = append(problems, fmt.Sprintf("-images: no image %q (there are %s)", n, imageNames()))
				continue
			}
			c.images = append(c.images, Images[i])
		}
	}
	pemKey := []byte(getenv("SA_SIGNING_KEY"))
	if keyFile != "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			problems = append(problems, fmt.Sprintf("signing key: %v", err))
		}
		pemKey = b
	}
	if len(pemKey) > 0 {
		k, err := supplychain.ParsePrivateKey(pemKey)
		if err != nil {
			problems = append(problems, err.Error())
		}
		c.key = k
	}
	if len(problems) > 0 {
		return c, errors.New(strings.Join(problems, "\n"))
	}
	return c, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c, err := parse(args, getenv)
	if err != nil {
		return err
	}
	ca, roots, err := oci.CABundle()
	if err != nil {
		return err
	}
	base, err := oci.Layer(oci.BaseFiles(ca), c.epoch)
	if err != nil {
		return err
	}
	caSum := sha256.Sum256(ca)
	p, err := oci.NewLayout(c.out)
	if err != nil {
		return err
	}
	meta := oci.Meta{Version: c.version, Revision: c.revision, Source: c.source, Licenses: "Apache-2.0", Epoch: c.epoch}
	if c.key == nil {
		fmt.Fprintln(stdout, "images: no signing key (SA_SIGNING_KEY_FILE): images are built without signature, SBOM or provenance attached; the SBOMs and provenance are written unsigned beside the layout")
	}
	var digests []string
	for _, s := range c.images {
		if err := ctx.Err(); err != nil {
			return err
		}
		idx, err := oci.Build(s, base, c.platforms, meta)
		if err != nil {
			return err
		}
		d, err := idx.Digest()
		if err != nil {
			return err
		}
		if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{supplychain.AnnotationRefName: s.Name + ":" + c.version})); err != nil {
			return fmt.Errorf("write %s to %s: %w", s.Name, c.out, err)
		}
		atts, err := attachments(ctx, c, s, idx, caSum, roots)
		if err != nil {
			return err
		}
		for _, a := range atts {
			if err := p.AppendImage(a); err != nil {
				return fmt.Errorf("write %s's attachment: %w", s.Name, err)
			}
		}
		sizes, err := platformSizes(idx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%-13s %s  %s\n", s.Name, d, sizes)
		digests = append(digests, s.Name+"@"+d.String())
		if c.registry != "" {
			if err := push(ctx, c, s, idx, atts); err != nil {
				return err
			}
		}
	}
	return os.WriteFile(filepath.Join(filepath.Dir(c.out), "digests.txt"), []byte(strings.Join(digests, "\n")+"\n"), 0o644)
}

// attachments builds the SBOM, the provenance and the signature of one
// image; signed and returned as artifacts with a key, written unsigned
// beside the layout without one.
func attachments(ctx context.Context, c config, s oci.Spec, idx v1.ImageIndex, caSum [32]byte, roots int) ([]v1.Image, error) {
	d, err := idx.Digest()
	if err != nil {
		return nil, err
	}
	var bins []sbom.Binary
	var platforms []string
	for _, p := range c.platforms {
		platforms = append(platforms, p.String())
		for _, b := range s.Binaries {
			bins = append(bins, sbom.Binary{Platform: p.String(), Path: "/" + b, File: filepath.Join(p.BinDir, b)})
		}
	}
	patches := map[string][]string{}
	if s.Name == "daprd" {
		for m, ps := range runtimePatches {
			for _, f := range ps {
				patches[m] = append(patches[m], c.source+"/blob/"+c.revision+"/"+f)
			}
		}
	}
	bom, err := sbom.Generate(sbom.Input{
		Image: s.Name, Version: c.version, Epoch: c.epoch, Binaries: bins, Patches: patches,
		Data: []sbom.Data{{Name: "ca-certificates", Version: caBundleVersion(),
			Description: fmt.Sprintf("%d unconstrained roots of the NSS trust store, from golang.org/x/crypto/x509roots/fallback, at %s", roots, oci.CABundlePath),
			SHA256:      hex.EncodeToString(caSum[:])}},
	})
	if err != nil {
		return nil, err
	}
	prov, err := provenance.Predicate(provenance.Input{
		Image: s.Name, Version: c.version, Revision: c.revision, SourceURI: c.source, Platforms: platforms,
		GoVersion: runtime.Version(), SourceDateEpoch: c.epoch.Unix(),
		BuilderID: c.source + "/deploy/images@" + c.revision,
	})
	if err != nil {
		return nil, err
	}
	claim, err := jsonRaw(supplychain.SignatureClaim{Image: "secure-agent/" + s.Name, Version: c.version, Revision: c.revision})
	if err != nil {
		return nil, err
	}
	subjects := []supplychain.Subject{{Name: "secure-agent/" + s.Name, Digest: map[string]string{"sha256": d.Hex}}}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, m := range im.Manifests {
		subjects = append(subjects, supplychain.Subject{Name: "secure-agent/" + s.Name + "/" + m.Platform.String(), Digest: map[string]string{"sha256": m.Digest.Hex}})
	}
	if c.key == nil {
		dir := filepath.Join(filepath.Dir(c.out), "attestations")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, s.Name+".cdx.json"), bom, 0o644); err != nil {
			return nil, err
		}
		return nil, os.WriteFile(filepath.Join(dir, s.Name+".slsa.json"), prov, 0o644)
	}
	var out []v1.Image
	for _, a := range []struct {
		kind supplychain.Attachment
		pred []byte
	}{{supplychain.Attachments[0], claim}, {supplychain.Attachments[1], bom}, {supplychain.Attachments[2], prov}} {
		env, err := supplychain.SignStatement(ctx, c.key, supplychain.Statement{Subject: subjects, PredicateType: a.kind.PredicateType, Predicate: a.pred})
		if err != nil {
			return nil, err
		}
		art, err := supplychain.NewArtifact(a.kind.ArtifactType, env, idx)
		if err != nil {
			return nil, err
		}
		out = append(out, art)
	}
	return out, nil
}

func push(ctx context.Context, c config, s oci.Spec, idx v1.ImageIndex, atts []v1.Image) error {
	repo, err := name.NewRepository(strings.TrimSuffix(c.registry, "/") + "/" + s.Name)
	if err != nil {
		return fmt.Errorf("IMAGE_REGISTRY %q: %w", c.registry, err)
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	if err := remote.WriteIndex(repo.Tag(c.version), idx, opts...); err != nil {
		return fmt.Errorf("push %s: %w", repo.Tag(c.version), err)
	}
	for _, a := range atts {
		d, err := a.Digest()
		if err != nil {
			return err
		}
		if err := remote.Write(repo.Digest(d.String()), a, opts...); err != nil {
			return fmt.Errorf("push %s's attachment %s: %w", s.Name, d, err)
		}
	}
	return nil
}

func platformSizes(idx v1.ImageIndex) (string, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return "", err
	}
	var parts []string
	for _, m := range im.Manifests {
		img, err := idx.Image(m.Digest)
		if err != nil {
			return "", err
		}
		mf, err := img.Manifest()
		if err != nil {
			return "", err
		}
		var n int64
		for _, l := range mf.Layers {
			n += l.Size
		}
		parts = append(parts, fmt.Sprintf("%s %.1f MiB", m.Platform, float64(n)/(1<<20)))
	}
	return strings.Join(parts, ", "), nil
}

func imageNames() string {
	var n []string
	for _, s := range Images {
		n = append(n, s.Name)
	}
	return strings.Join(n, ", ")
}
