package supplychain

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
)

// Key is a signing key (private) or a verification key (public only). Both
// satisfy go-securesystemslib's dsse.Signer/Verifier interfaces.
type Key struct {
	signer crypto.Signer    // nil for a public key
	public crypto.PublicKey // ed25519.PublicKey or *ecdsa.PublicKey
	id     string
}

// ParsePrivateKey reads a PKCS#8 PEM private key (Ed25519 or ECDSA), as
// `openssl genpkey -algorithm ed25519` writes it. The key never appears in
// an error.
func ParsePrivateKey(pemBytes []byte) (*Key, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("signing key is not PEM; write it with `openssl genpkey -algorithm ed25519 -out key.pem`")
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("signing key is a PEM %q block; a PKCS#8 \"PRIVATE KEY\" is needed (openssl genpkey -algorithm ed25519)", block.Type)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("signing key is not a valid PKCS#8 private key")
	}
	var s crypto.Signer
	switch k := k.(type) {
	case ed25519.PrivateKey:
		s = k
	case *ecdsa.PrivateKey:
		s = k
	default:
		return nil, fmt.Errorf("signing key is a %T; use Ed25519 or ECDSA", k)
	}
	return newKey(s, s.Public())
}

// ParsePublicKey reads a PKIX PEM public key (`openssl pkey -pubout`).
func ParsePublicKey(pemBytes []byte) (*Key, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("public key is not a PEM \"PUBLIC KEY\" block; derive it with `openssl pkey -in key.pem -pubout -out key.pub`")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	switch pub.(type) {
	case ed25519.PublicKey, *ecdsa.PublicKey:
	default:
		return nil, fmt.Errorf("public key is a %T; Ed25519 or ECDSA keys are supported", pub)
	}
	return newKey(nil, pub)
}

func newKey(s crypto.Signer, pub crypto.PublicKey) (*Key, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return &Key{signer: s, public: pub, id: hex.EncodeToString(sum[:])}, nil
}

// PublicPEM is the key's public half as a PKIX PEM block.
func (k *Key) PublicPEM() []byte {
	der, _ := x509.MarshalPKIXPublicKey(k.public) // parsed from or checked by newKey
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// KeyID is the SHA-256 of the public key's PKIX encoding, in hex.
func (k *Key) KeyID() (string, error) { return k.id, nil }

// Public returns the public key.
func (k *Key) Public() crypto.PublicKey { return k.public }

// Sign signs data (a DSSE PAE): Ed25519 over the message, ECDSA over its SHA-256.
func (k *Key) Sign(_ context.Context, data []byte) ([]byte, error) {
	if k.signer == nil {
		return nil, errors.New("this is a public key; signing needs the private key")
	}
	if _, ok := k.signer.(ed25519.PrivateKey); ok {
		return k.signer.Sign(rand.Reader, data, crypto.Hash(0))
	}
	sum := sha256.Sum256(data)
	return k.signer.Sign(rand.Reader, sum[:], crypto.SHA256)
}

// Verify checks sig over data.
func (k *Key) Verify(_ context.Context, data, sig []byte) error {
	switch pub := k.public.(type) {
	case ed25519.PublicKey:
		if !ed25519.Verify(pub, data, sig) {
			return errors.New("signature does not match the key")
		}
	case *ecdsa.PublicKey:
		sum := sha256.Sum256(data)
		if !ecdsa.VerifyASN1(pub, sum[:], sig) {
			return errors.New("signature does not match the key")
		}
	}
	return nil
}
