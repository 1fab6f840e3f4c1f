// Package supplychain holds what the image builder (deploy/images) and the
// verifier (agentctl verify-image) must agree on: signing keys, DSSE
// envelopes, in-toto statements, and how signatures, SBOMs and provenance
// are attached to an image as OCI 1.1 referrers (artifact manifests whose
// subject is the image index).
//
// Every attachment is a DSSE envelope signed with the operator's key, so
// verification needs only the public key and the image: no network, no
// transparency log (docs/supply-chain.md).
package supplychain
