package audit

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// GenerateKey returns a new Ed25519 checkpoint signing key for a log
// origin, as a note signer key (skey, kept in the secret store) and its
// verifier key (vkey, given to whoever verifies: the control plane and
// agentctl audit verify).
func GenerateKey(origin string) (skey, vkey string, err error) {
	return note.GenerateKey(rand.Reader, origin)
}

// VerifierKey derives the verifier key from a signer key.
func VerifierKey(skey string) (string, error) {
	// PRIVATE+KEY+<name>+<hash>+<base64(alg || seed)>
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return "", errors.New("not a note signer key (PRIVATE+KEY+<name>+<hash>+<key>)")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return "", errors.New("the signer key is not an Ed25519 note key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(parts[2], pub)
}

// NewSigner parses a signer key; errors never quote it.
func NewSigner(skey string) (note.Signer, error) {
	s, err := note.NewSigner(strings.TrimSpace(skey))
	if err != nil {
		return nil, errors.New("the audit signing key is not a note signer key (generate one with agentctl audit keygen)")
	}
	return s, nil
}

// NewVerifier parses a verifier key.
func NewVerifier(vkey string) (note.Verifier, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("%q is not a note verifier key (<name>+<hash>+<key>): %w", vkey, err)
	}
	return v, nil
}

// NewCosignatureVerifier parses a witness's key for its C2SP
// cosignature/v1 signatures (a cosignature key, or a plain Ed25519 note
// key the witness also cosigns with).
func NewCosignatureVerifier(vkey string) (note.Verifier, error) {
	v, err := fnote.NewVerifierForCosignatureV1(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("%q is not a witness verifier key: %w", vkey, err)
	}
	return v, nil
}

// NewCosigner returns a C2SP cosignature/v1 signer from a note signer key
// (what a witness signs with).
func NewCosigner(skey string) (note.Signer, error) {
	s, err := fnote.NewSignerForCosignatureV1(strings.TrimSpace(skey))
	if err != nil {
		return nil, errors.New("not a witness signer key")
	}
	return s, nil
}

// HMAC is how the log names a secret's value without holding it: Vault's
// form, hmac-sha256:<hex>, under the installation's audit key.
func HMAC(key []byte, value string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(value))
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
}

// VerifyInclusion checks that leaf is entry seq of the tree of size with
// root, given an RFC 6962 inclusion proof.
func VerifyInclusion(proof []tlog.Hash, seq, size uint64, leaf, root tlog.Hash) error {
	if size == 0 || seq >= size {
		return fmt.Errorf("entry %d cannot be in a tree of %d entries", seq, size)
	}
	if size > 1<<62 {
		return fmt.Errorf("tree size %d is out of range", size)
	}
	if len(proof) > 64 {
		return fmt.Errorf("an inclusion proof has at most 64 hashes, this one %d", len(proof))
	}
	if err := tlog.CheckRecord(proof, int64(size), root, int64(seq), leaf); err != nil {
		return fmt.Errorf("entry %d is not in the tree of %d entries with that root: %w", seq, size, err)
	}
	return nil
}

// VerifyConsistency checks that the tree (newSize, newRoot) extends the
// tree (oldSize, oldRoot), given an RFC 6962 consistency proof.
func VerifyConsistency(proof []tlog.Hash, oldSize, newSize uint64, oldRoot, newRoot tlog.Hash) error {
	switch {
	case oldSize > newSize:
		return fmt.Errorf("a tree of %d entries cannot extend one of %d (rolled back)", newSize, oldSize)
	case newSize > 1<<62:
		return fmt.Errorf("tree size %d is out of range", newSize)
	case len(proof) > 64:
		return fmt.Errorf("a consistency proof has at most 64 hashes, this one %d", len(proof))
	case oldSize == newSize:
		if len(proof) != 0 || oldRoot != newRoot {
			return fmt.Errorf("two trees of %d entries with different roots (forked)", newSize)
		}
		return nil
	case oldSize == 0:
		return nil
	}
	if err := tlog.CheckTree(proof, int64(newSize), newRoot, int64(oldSize), oldRoot); err != nil {
		return fmt.Errorf("the tree of %d entries does not extend the one of %d: %w", newSize, oldSize, err)
	}
	return nil
}
