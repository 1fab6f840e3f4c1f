package supplychain

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// Check is one verification step and its outcome.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Report is everything verify-image found.
type Report struct {
	Source string
	Digest v1.Hash // the image index's digest, when it could be read
	Checks []Check
}

// OK reports whether every check passed.
func (r Report) OK() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return len(r.Checks) > 0
}

func (r *Report) add(name string, err error, okDetail string) {
	if err != nil {
		r.Checks = append(r.Checks, Check{Name: name, Detail: err.Error()})
		return
	}
	r.Checks = append(r.Checks, Check{Name: name, OK: true, Detail: okDetail})
}

// Verify checks, offline, that the image's content matches its digests,
// and that a signature, an SBOM and a provenance statement are attached,
// signed by key, and made for this image's digest. Every step is reported,
// passed or not, so a user sees exactly what failed.
func Verify(ctx context.Context, src Source, key *Key) Report {
	r := Report{Source: src.Describe()}
	idx, err := src.Index()
	if err != nil {
		r.add("image", err, "")
		return r
	}
	digest, err := idx.Digest()
	if err != nil {
		r.add("image", err, "")
		return r
	}
	r.Digest = digest
	binaries, err := checkContent(idx)
	r.add("content", err, fmt.Sprintf("%d platforms; every manifest, config and layer matches its digest", len(binaries)))

	refs, err := src.Referrers(digest)
	if err != nil {
		r.add("attachments", err, "")
		return r
	}
	for _, a := range Attachments {
		st, err := findAttachment(ctx, refs, a, digest, key)
		switch {
		case err != nil:
			r.add(a.Name, err, "")
		case a.PredicateType == PredicateSignature:
			var c SignatureClaim
			if err := json.Unmarshal(st.Predicate, &c); err != nil {
				r.add(a.Name, fmt.Errorf("signed claim is unreadable: %w", err), "")
				continue
			}
			r.add(a.Name, nil, fmt.Sprintf("%s %s (revision %s), signed by key %s", c.Image, c.Version, short(c.Revision), short(key.id)))
		case a.PredicateType == PredicateSBOM:
			n, err := sbomCovers(st.Predicate, binaries)
			r.add(a.Name, err, fmt.Sprintf("CycloneDX, %d components; lists every binary in the image with its sha256", n))
		case a.PredicateType == PredicateSLSA:
			r.add(a.Name, nil, "SLSA v1, "+provenanceSummary(st.Predicate))
		}
	}
	return r
}

// findAttachment returns the statement of the first referrer of the
// artifact type that is signed by key and names digest; otherwise why none did.
func findAttachment(ctx context.Context, refs []v1.Image, a Attachment, digest v1.Hash, key *Key) (Statement, error) {
	candidates, err := ofType(refs, a.ArtifactType)
	if err != nil {
		return Statement{}, fmt.Errorf("read attached manifests: %w", err)
	}
	var reasons []string
	for _, img := range candidates {
		env, err := readEnvelope(img)
		if err != nil {
			reasons = append(reasons, err.Error())
			continue
		}
		st, err := OpenStatement(ctx, key, env)
		if err != nil {
			reasons = append(reasons, err.Error())
			continue
		}
		if st.PredicateType != a.PredicateType {
			reasons = append(reasons, fmt.Sprintf("predicate is %s, want %s", st.PredicateType, a.PredicateType))
			continue
		}
		if !st.Covers(digest.String()) {
			reasons = append(reasons, fmt.Sprintf("made for another image: it names %s, not %s", strings.Join(st.SubjectDigests(), ", "), digest))
			continue
		}
		return st, nil
	}
	if len(reasons) == 0 {
		return Statement{}, fmt.Errorf("missing: no %s is attached to %s", a.Name, digest)
	}
	return Statement{}, errors.New(strings.Join(reasons, "; "))
}

// checkContent validates every platform image against its digests and
// returns, per platform, the sha256 of every executable it holds.
func checkContent(idx v1.ImageIndex) (map[string]map[string]string, error) {
	if err := validate.Index(idx); err != nil {
		return nil, fmt.Errorf("content does not match its digests (tampered or corrupt): %w", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, err
		}
		bins, err := Executables(img)
		if err != nil {
			return nil, err
		}
		p := "unknown"
		if d.Platform != nil {
			p = d.Platform.String()
		}
		out[p] = bins
	}
	return out, nil
}

// Executables maps the path of every executable regular file in img's
// layers to its sha256 (hex).
func Executables(img v1.Image) (map[string]string, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, err
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rc.Close()
				return nil, fmt.Errorf("read layer: %w", err)
			}
			if h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 {
				continue
			}
			sum := sha256.New()
			if _, err := io.Copy(sum, tr); err != nil {
				rc.Close()
				return nil, err
			}
			out["/"+strings.TrimPrefix(h.Name, "/")] = hex.EncodeToString(sum.Sum(nil))
		}
		rc.Close()
	}
	return out, nil
}

// sbomCovers checks that the CycloneDX BOM lists every executable with its sha256.
func sbomCovers(bom json.RawMessage, binaries map[string]map[string]string) (int, error) {
	var b struct {
		BOMFormat  string `json:"bomFormat"`
		Components []struct {
			Name   string `json:"name"`
			Hashes []struct {
				Alg     string `json:"alg"`
				Content string `json:"content"`
			} `json:"hashes"`
		} `json:"components"`
	}
	if err := json.Unmarshal(bom, &b); err != nil || b.BOMFormat != "CycloneDX" {
		return 0, errors.New("predicate is not a CycloneDX BOM")
	}
	have := map[string]bool{}
	for _, c := range b.Components {
		for _, h := range c.Hashes {
			if h.Alg == "SHA-256" {
				have[h.Content] = true
			}
		}
	}
	var missing []string
	for platform, bins := range binaries {
		for path, sum := range bins {
			if !have[sum] {
				missing = append(missing, platform+" "+path)
			}
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return 0, fmt.Errorf("the SBOM does not describe these binaries (no component with their sha256): %s", strings.Join(missing, ", "))
	}
	return len(b.Components), nil
}

func provenanceSummary(p json.RawMessage) string {
	var v struct {
		BuildDefinition struct {
			BuildType            string `json:"buildType"`
			ResolvedDependencies []struct {
				URI    string            `json:"uri"`
				Digest map[string]string `json:"digest"`
			} `json:"resolvedDependencies"`
		} `json:"buildDefinition"`
		RunDetails struct {
			Builder struct {
				ID string `json:"id"`
			} `json:"builder"`
		} `json:"runDetails"`
	}
	if json.Unmarshal(p, &v) != nil {
		return "unreadable predicate"
	}
	var src string
	for _, d := range v.BuildDefinition.ResolvedDependencies {
		if c := d.Digest["gitCommit"]; c != "" {
			src = d.URI + "@" + short(c)
		}
	}
	return fmt.Sprintf("built by %s from %s", v.RunDetails.Builder.ID, src)
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
