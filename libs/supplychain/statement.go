package supplychain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// In-toto and DSSE constants (in-toto attestation framework v1).
const (
	StatementType      = "https://in-toto.io/Statement/v1"
	PayloadTypeInToto  = "application/vnd.in-toto+json"
	PredicateSBOM      = "https://cyclonedx.org/bom"
	PredicateSLSA      = "https://slsa.dev/provenance/v1"
	PredicateSignature = "https://secure-agent.dev/image-signature/v1"
)

// Statement is an in-toto v1 statement about one or more subjects.
type Statement struct {
	Type          string          `json:"_type"`
	Subject       []Subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// Subject names an artifact by digest.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// SignatureClaim is the predicate of an image signature: the signer vouches
// for this image, under this name, at this version.
type SignatureClaim struct {
	Image    string `json:"image"`    // repository name, e.g. secure-agent/orchestrator
	Version  string `json:"version"`  // the build's version
	Revision string `json:"revision"` // source commit
}

// SignStatement wraps st in a DSSE envelope signed with key.
func SignStatement(ctx context.Context, key *Key, st Statement) ([]byte, error) {
	st.Type = StatementType
	body, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encode statement: %w", err)
	}
	s, err := dsse.NewEnvelopeSigner(key)
	if err != nil {
		return nil, err
	}
	env, err := s.SignPayload(ctx, PayloadTypeInToto, body)
	if err != nil {
		return nil, fmt.Errorf("sign %s statement: %w", st.PredicateType, err)
	}
	return json.Marshal(env)
}

// OpenStatement checks a DSSE envelope's signature with key and returns the
// in-toto statement inside. Errors say which step failed.
func OpenStatement(ctx context.Context, key *Key, envelope []byte) (Statement, error) {
	var env dsse.Envelope
	if err := json.Unmarshal(envelope, &env); err != nil {
		return Statement{}, fmt.Errorf("not a DSSE envelope: %w", err)
	}
	if env.PayloadType != PayloadTypeInToto {
		return Statement{}, fmt.Errorf("envelope holds %q, not an in-toto statement", env.PayloadType)
	}
	v, err := dsse.NewEnvelopeVerifier(key)
	if err != nil {
		return Statement{}, err
	}
	_, body, err := v.VerifyAndDecode(ctx, &env)
	if err != nil {
		if errors.Is(err, dsse.ErrNoSignature) {
			return Statement{}, errors.New("envelope is not signed")
		}
		return Statement{}, errors.New("signature does not verify with the given public key (wrong key, or the envelope was changed)")
	}
	var st Statement
	if err := json.Unmarshal(body, &st); err != nil {
		return Statement{}, fmt.Errorf("signed payload is not an in-toto statement: %w", err)
	}
	if st.Type != StatementType {
		return Statement{}, fmt.Errorf("statement type is %q, want %q", st.Type, StatementType)
	}
	return st, nil
}

// Covers reports whether the statement names digest ("sha256:<hex>") as a subject.
func (st Statement) Covers(digest string) bool {
	algo, hex, ok := strings.Cut(digest, ":")
	if !ok {
		return false
	}
	for _, s := range st.Subject {
		if s.Digest[algo] == hex {
			return true
		}
	}
	return false
}

// SubjectDigests lists the statement's subjects as "name@algo:hex".
func (st Statement) SubjectDigests() []string {
	var out []string
	for _, s := range st.Subject {
		for algo, hex := range s.Digest {
			out = append(out, s.Name+"@"+algo+":"+hex)
		}
	}
	return out
}
