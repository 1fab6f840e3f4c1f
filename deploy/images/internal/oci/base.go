// Package oci assembles the project's images from static binaries with
// go-containerregistry: an empty base, one shared base layer, one layer of
// binaries, numeric non-root user; every byte fixed by the inputs and
// SOURCE_DATE_EPOCH, so the same commit gives the same digests.
package oci

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// NonRoot is the user and group every image runs as (distroless's nonroot).
const NonRoot = 65532

// CABundlePath is where the images keep their CA certificates (Go's
// crypto/x509 looks there first on Linux; SSL_CERT_FILE names it too).
const CABundlePath = "/etc/ssl/certs/ca-certificates.crt"

// File is one entry of a layer.
type File struct {
	Path     string // absolute, in the image
	Mode     int64  // permission bits, plus setuid/sticky where meant
	Dir      bool
	UID, GID int
	Content  []byte // regular files, unless Source is set
	Source   string // read from this host path instead
}

// CABundle returns the unconstrained roots of the NSS trust store as PEM,
// from golang.org/x/crypto/x509roots/fallback: pinned by go.sum, so the
// bundle (and the image) does not depend on the build host's packages.
// Roots with a distrust-after date are left out: a PEM file cannot say it.
func CABundle() ([]byte, int, error) {
	var buf bytes.Buffer
	n := 0
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue
		}
		if _, err := x509.ParseCertificate(r.Certificate); err != nil {
			return nil, 0, fmt.Errorf("CA bundle: %w", err)
		}
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate}); err != nil {
			return nil, 0, err
		}
		n++
	}
	if n == 0 {
		return nil, 0, fmt.Errorf("CA bundle: x509roots/fallback holds no roots")
	}
	return buf.Bytes(), n, nil
}

// BaseFiles are what every image holds besides its binaries: the user
// database with nonroot 65532, a sticky /tmp, the CA bundle, and the
// resolver order Go reads (hosts file before DNS).
func BaseFiles(caBundle []byte) []File {
	return []File{
		{Path: "/etc", Dir: true, Mode: 0o755},
		{Path: "/etc/group", Mode: 0o644, Content: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{Path: "/etc/nsswitch.conf", Mode: 0o644, Content: []byte("hosts: files dns\n")},
		{Path: "/etc/passwd", Mode: 0o644, Content: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{Path: "/etc/ssl", Dir: true, Mode: 0o755},
		{Path: "/etc/ssl/certs", Dir: true, Mode: 0o755},
		{Path: CABundlePath, Mode: 0o644, Content: caBundle},
		{Path: "/home", Dir: true, Mode: 0o755},
		{Path: "/home/nonroot", Dir: true, Mode: 0o700, UID: NonRoot, GID: NonRoot},
		{Path: "/tmp", Dir: true, Mode: 0o1777},
	}
}

// Layer writes files into a deterministic tar layer: sorted, numeric
// owners without names, every time set to epoch, no PAX times.
func Layer(files []File, epoch time.Time) (v1.Layer, error) {
	sorted := append([]File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range sorted {
		h := &tar.Header{
			Name:    f.Path[1:],
			Mode:    f.Mode,
			Uid:     f.UID,
			Gid:     f.GID,
			ModTime: epoch,
			Format:  tar.FormatPAX,
		}
		var content []byte
		if f.Dir {
			h.Typeflag = tar.TypeDir
			h.Name += "/"
		} else {
			h.Typeflag = tar.TypeReg
			content = f.Content
			if f.Source != "" {
				b, err := os.ReadFile(f.Source)
				if err != nil {
					return nil, fmt.Errorf("layer file %s: %w", f.Path, err)
				}
				content = b
			}
			h.Size = int64(len(content))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer file %s: %w", f.Path, err)
		}
		if _, err := tw.Write(content); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType("application/vnd.oci.image.layer.v1.tar+gzip"))
}
