package audit

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
)

// testTSA is an RFC 3161 authority on loopback that answers with tokens
// made by digitorus/timestamp (a customer's TSA cannot run here).
func testTSA(t *testing.T) (*httptest.Server, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test TSA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := timestamp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ts := timestamp.Timestamp{HashAlgorithm: req.HashAlgorithm, HashedMessage: req.HashedMessage, Time: time.Now(),
			Policy: asn1.ObjectIdentifier{1, 2, 3, 4}, Nonce: req.Nonce, AddTSACertificate: req.Certificates}
		resp, err := ts.CreateResponseWithOpts(cert, key, crypto.SHA256)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/timestamp-reply")
		_, _ = w.Write(resp)
	}))
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return srv, pool
}

func TestTSATokensOverCheckpoints(t *testing.T) {
	srv, roots := testTSA(t)
	f := newFixture(t)
	ctx := context.Background()
	f.appendN(t, f.log, 5)
	cp, _, err := f.log.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := TSA{URL: srv.URL}.Stamp(ctx, []byte(cp.Note))
	if err != nil {
		t.Fatal(err)
	}
	at, err := TSATime(tok, []byte(cp.Note), roots)
	if err != nil || time.Since(at) > time.Minute {
		t.Fatalf("token time %v, %v", at, err)
	}
	if err := f.log.StoreTSA(ctx, cp.Size, tok); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(bytes.NewReader(f.export(t)), VerifyOptions{Origin: testOrigin, LogKey: f.vkey, TSARoots: roots})
	if err != nil || !rep.OK() || rep.Timestamped != 1 {
		t.Fatalf("%+v %v", rep, err)
	}
	// A token moved to another checkpoint does not verify.
	f.appendN(t, f.log, 1)
	cp2, _, _ := f.log.Checkpoint(ctx)
	if _, err := TSATime(tok, []byte(cp2.Note), roots); err == nil {
		t.Fatal("a token over checkpoint 5 verified for checkpoint 6")
	}
	if err := f.log.StoreTSA(ctx, cp2.Size, tok); err != nil {
		t.Fatal(err)
	}
	rep, _ = Verify(bytes.NewReader(f.export(t)), VerifyOptions{Origin: testOrigin, LogKey: f.vkey})
	if p, bad := rep.First(); !bad || p.Kind != "bad-timestamp" {
		t.Fatalf("moved token: %+v", rep)
	}
	// Another authority's root refuses the token's signer.
	if _, err := TSATime(tok, []byte(cp.Note), x509.NewCertPool()); err == nil {
		t.Fatal("a token verified against roots that do not hold its signer")
	}
}
