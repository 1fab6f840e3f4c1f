package supplychain

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/stretchr/testify/require"
)

func pkcs8(t *testing.T, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestSignAndOpenWithEd25519AndECDSA(t *testing.T) {
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	for name, k := range map[string]any{"ed25519": ed, "ecdsa": ec} {
		priv, err := ParsePrivateKey(pkcs8(t, k))
		require.NoError(t, err, name)
		pub, err := ParsePublicKey(priv.PublicPEM())
		require.NoError(t, err, name)
		st := Statement{Subject: []Subject{{Name: "x", Digest: map[string]string{"sha256": "ab"}}}, PredicateType: PredicateSLSA, Predicate: json.RawMessage(`{"a":1}`)}
		env, err := SignStatement(context.Background(), priv, st)
		require.NoError(t, err, name)
		got, err := OpenStatement(context.Background(), pub, env)
		require.NoError(t, err, name)
		require.True(t, got.Covers("sha256:ab"))
		require.False(t, got.Covers("sha256:cd"))

		// The real DSSE verifier agrees, and a changed payload fails.
		var e dsse.Envelope
		require.NoError(t, json.Unmarshal(env, &e))
		v, err := dsse.NewEnvelopeVerifier(pub)
		require.NoError(t, err)
		_, err = v.Verify(context.Background(), &e)
		require.NoError(t, err, name)
		e.Payload = e.Payload[:len(e.Payload)-4] + "AAAA"
		changed, _ := json.Marshal(e)
		_, err = OpenStatement(context.Background(), pub, changed)
		require.ErrorContains(t, err, "does not verify", name)
	}
}

func TestKeyErrorsNameTheFixNotTheKey(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	rsaPEM := pkcs8(t, rsaKey)
	for in, want := range map[string]string{
		"not pem at all": "openssl genpkey -algorithm ed25519",
		string(rsaPEM):   "use Ed25519 or ECDSA",
		"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n": "not a valid PKCS#8 private key",
	} {
		_, err := ParsePrivateKey([]byte(in))
		require.ErrorContains(t, err, want)
		for _, line := range strings.Split(in, "\n") {
			if len(line) >= 4 && !strings.HasPrefix(line, "-----") && line != "not pem at all" {
				require.NotContains(t, err.Error(), line, "the key's content never appears in an error")
			}
		}
	}
	_, err = ParsePublicKey(rsaPEM)
	require.ErrorContains(t, err, "PUBLIC KEY")
	pub, err := ParsePublicKey(mustPub(t))
	require.NoError(t, err)
	_, err = pub.Sign(context.Background(), []byte("x"))
	require.ErrorContains(t, err, "needs the private key")
}

func mustPub(t *testing.T) []byte {
	t.Helper()
	p, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(p)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestParseRef(t *testing.T) {
	s, err := ParseRef("oci:dist/oci:orchestrator")
	require.NoError(t, err)
	require.Equal(t, "oci:dist/oci:orchestrator", s.Describe())
	_, err = ParseRef("oci:dist/oci")
	require.ErrorContains(t, err, "oci:DIR:NAME")
	s, err = ParseRef("registry.example.com/secure-agent/health:v1")
	require.NoError(t, err)
	require.Equal(t, "registry.example.com/secure-agent/health:v1", s.Describe())
	_, err = ParseRef("UPPER CASE")
	require.Error(t, err)
}
