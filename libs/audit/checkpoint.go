package audit

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func b64(h tlog.Hash) string { return base64.StdEncoding.EncodeToString(h[:]) }

func unb64(s string) (tlog.Hash, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != tlog.HashSize {
		return tlog.Hash{}, fmt.Errorf("%q is not a base64 SHA-256 hash", s)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h, nil
}

// Checkpoint is a parsed, log-signed checkpoint.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   tlog.Hash
	// Cosigned lists the witnesses whose cosignature verified, with the
	// time each signed.
	Cosigned []Cosignature
	// Unverified counts signature lines from keys the caller did not name.
	Unverified int
}

// Cosignature is one witness's verified cosignature.
type Cosignature struct {
	Witness string
	Time    time.Time
}

// CheckpointError says why a checkpoint note was refused.
type CheckpointError struct {
	Kind string // "malformed", "bad-signature", "bad-cosignature", "unsigned", "origin"
	Msg  string
}

func (e *CheckpointError) Error() string { return e.Msg }

// ParseCheckpoint opens a checkpoint note: the log's signature must verify
// with logKey; each witness key's cosignature, if present, must verify.
func ParseCheckpoint(text []byte, origin string, logKey note.Verifier, witnessKeys ...note.Verifier) (Checkpoint, error) {
	vs := append([]note.Verifier{logKey}, witnessKeys...)
	n, err := note.Open(text, note.VerifierList(vs...))
	if err != nil {
		var inv *note.InvalidSignatureError
		var unv *note.UnverifiedNoteError
		switch {
		case errors.As(err, &inv) && inv.Name == logKey.Name() && inv.Hash == logKey.KeyHash():
			return Checkpoint{}, &CheckpointError{"bad-signature", "the log's signature does not verify (the checkpoint was altered or re-signed with another key)"}
		case errors.As(err, &inv):
			return Checkpoint{}, &CheckpointError{"bad-cosignature", fmt.Sprintf("the cosignature of witness %q does not verify (the checkpoint is not what the witness cosigned)", inv.Name)}
		case errors.As(err, &unv):
			return Checkpoint{}, &CheckpointError{"unsigned", "no signature by the log's key (" + logKey.Name() + ")"}
		}
		return Checkpoint{}, &CheckpointError{"malformed", "not a signed note: " + err.Error()}
	}
	signed := false
	var cp Checkpoint
	for _, s := range n.Sigs {
		if s.Name == logKey.Name() && s.Hash == logKey.KeyHash() {
			signed = true
			continue
		}
		t, err := fnote.CoSigV1Timestamp(s)
		if err != nil {
			return Checkpoint{}, &CheckpointError{"bad-cosignature", fmt.Sprintf("witness %q: %v", s.Name, err)}
		}
		cp.Cosigned = append(cp.Cosigned, Cosignature{Witness: s.Name, Time: t})
	}
	if !signed {
		return Checkpoint{}, &CheckpointError{"unsigned", "no signature by the log's key (" + logKey.Name() + ")"}
	}
	var c log.Checkpoint
	rest, err := c.Unmarshal([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, &CheckpointError{"malformed", err.Error()}
	}
	if len(rest) > 0 {
		return Checkpoint{}, &CheckpointError{"malformed", "the checkpoint has extension lines this log never writes"}
	}
	if c.Origin != origin {
		return Checkpoint{}, &CheckpointError{"origin", fmt.Sprintf("the checkpoint's origin is %q, not %q", c.Origin, origin)}
	}
	if len(c.Hash) != tlog.HashSize {
		return Checkpoint{}, &CheckpointError{"malformed", "the root is not a SHA-256 hash"}
	}
	cp.Origin, cp.Size = c.Origin, c.Size
	copy(cp.Root[:], c.Hash)
	cp.Unverified = len(n.UnverifiedSigs)
	return cp, nil
}

// AddCheckpointRequest is a C2SP tlog-witness add-checkpoint request: the
// size of the last checkpoint the witness cosigned for this log, a
// consistency proof from it, and the new checkpoint note.
type AddCheckpointRequest struct {
	OldSize    uint64
	Proof      []tlog.Hash
	Checkpoint []byte
}

// MaxAddCheckpointBytes bounds a request body (63 proof lines and a note).
const MaxAddCheckpointBytes = 16 << 10

// Marshal encodes the request body: "old N", one base64 proof hash per
// line, an empty line, then the note.
func (r AddCheckpointRequest) Marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", r.OldSize)
	for _, h := range r.Proof {
		b.WriteString(b64(h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(r.Checkpoint)
	return b.Bytes()
}

// ParseAddCheckpointRequest decodes a request body strictly.
func ParseAddCheckpointRequest(body []byte) (AddCheckpointRequest, error) {
	if len(body) > MaxAddCheckpointBytes {
		return AddCheckpointRequest{}, fmt.Errorf("request is %d bytes, over %d", len(body), MaxAddCheckpointBytes)
	}
	head, cp, ok := bytes.Cut(body, []byte("\n\n"))
	if !ok {
		return AddCheckpointRequest{}, errors.New("no empty line between the proof and the checkpoint")
	}
	lines := strings.Split(string(head), "\n")
	old, ok := strings.CutPrefix(lines[0], "old ")
	if !ok {
		return AddCheckpointRequest{}, errors.New(`the first line is not "old <size>"`)
	}
	n, err := strconv.ParseUint(old, 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != old {
		return AddCheckpointRequest{}, fmt.Errorf("old size %q is not a decimal number", old)
	}
	if len(lines)-1 > 63 {
		return AddCheckpointRequest{}, fmt.Errorf("%d proof hashes: a consistency proof has at most 63", len(lines)-1)
	}
	r := AddCheckpointRequest{OldSize: n, Checkpoint: cp}
	for i, l := range lines[1:] {
		h, err := unb64(l)
		if err != nil {
			return AddCheckpointRequest{}, fmt.Errorf("proof line %d: %w", i+1, err)
		}
		r.Proof = append(r.Proof, h)
	}
	return r, nil
}

// CheckpointBody returns the checkpoint text (origin, size, root) of a
// note without verifying anything, for a witness that must first find the
// log's key by origin.
func CheckpointBody(signed []byte) (log.Checkpoint, error) {
	text, _, ok := bytes.Cut(signed, []byte("\n\n"))
	if !ok {
		return log.Checkpoint{}, errors.New("not a signed note (no empty line before the signatures)")
	}
	var c log.Checkpoint
	if _, err := c.Unmarshal(append(text, '\n')); err != nil {
		return log.Checkpoint{}, err
	}
	return c, nil
}
