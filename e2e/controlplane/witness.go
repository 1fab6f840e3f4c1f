package controlplane

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/secure-agent/secure-agent/libs/audit"
)

// AuditLogKeyHeader carries the log's verifier key (pinned on first use).
const AuditLogKeyHeader = "X-Audit-Log-Key"

// witness is the reference control plane's C2SP tlog-witness: it cosigns
// an audit checkpoint only when it extends the last one it cosigned for
// that log, proved by an RFC 6962 consistency proof it checks with
// transparency-dev/merkle (an implementation other than the agent's).
type witness struct {
	mu     sync.Mutex
	name   string
	signer note.Signer
	vkey   string
	logs   map[string]*witnessedLog
	now    func() time.Time
}

type witnessedLog struct {
	key     note.Verifier
	vkey    string
	size    uint64
	root    []byte
	note    []byte // the newest checkpoint it cosigned, with every signature
	history []WitnessedCheckpoint
	refused []WitnessRefusal
}

// WitnessedCheckpoint is one checkpoint the witness cosigned.
type WitnessedCheckpoint struct {
	Size     uint64    `json:"size"`
	Cosigned time.Time `json:"cosigned"`
}

// WitnessRefusal is one checkpoint the witness refused, and why.
type WitnessRefusal struct {
	Code    string    `json:"code"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

func newWitness(now func() time.Time) (*witness, error) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "witness.controlplane.test")
	if err != nil {
		return nil, err
	}
	signer, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		return nil, err
	}
	return &witness{name: "witness.controlplane.test", signer: signer, vkey: vkey, logs: map[string]*witnessedLog{}, now: now}, nil
}

type witnessError struct {
	status int
	code   string
	msg    string
	known  *uint64
}

func (e *witnessError) Error() string { return e.msg }

// add checks and cosigns one add-checkpoint request.
func (wt *witness) add(body []byte, logKey string) ([]byte, error) {
	req, err := audit.ParseAddCheckpointRequest(body)
	if err != nil {
		return nil, &witnessError{status: http.StatusBadRequest, code: "invalid_request", msg: "not an add-checkpoint request: " + err.Error()}
	}
	cpText, err := audit.CheckpointBody(req.Checkpoint)
	if err != nil {
		return nil, &witnessError{status: http.StatusBadRequest, code: "invalid_request", msg: "not a checkpoint: " + err.Error()}
	}
	wt.mu.Lock()
	defer wt.mu.Unlock()
	wl, known := wt.logs[cpText.Origin]
	if !known {
		// Trust on first use: the first checkpoint of an origin pins the
		// key it names (a production witness has it registered).
		v, err := note.NewVerifier(logKey)
		if err != nil || v.Name() != cpText.Origin {
			return nil, &witnessError{status: http.StatusForbidden, code: "unknown_log",
				msg: fmt.Sprintf("no key is registered for log %q: send its verifier key in %s", cpText.Origin, AuditLogKeyHeader)}
		}
		wl = &witnessedLog{key: v, vkey: logKey}
	} else if logKey != "" && logKey != wl.vkey {
		return nil, wt.refuse(wl, &witnessError{status: http.StatusForbidden, code: "key_mismatch",
			msg: fmt.Sprintf("log %q is registered with another key", cpText.Origin)})
	}
	n, err := note.Open(req.Checkpoint, note.VerifierList(wl.key))
	if err != nil {
		return nil, wt.refuse(wl, &witnessError{status: http.StatusForbidden, code: "bad_signature",
			msg: "the checkpoint is not signed by the log's registered key: " + err.Error()})
	}
	var cp log.Checkpoint
	if rest, err := cp.Unmarshal([]byte(n.Text)); err != nil || len(rest) > 0 {
		return nil, wt.refuse(wl, &witnessError{status: http.StatusBadRequest, code: "invalid_request", msg: "malformed checkpoint"})
	}
	size := wl.size
	switch {
	case cp.Size < wl.size:
		return nil, wt.refuse(wl, &witnessError{status: http.StatusConflict, code: "rolled_back", known: &size,
			msg: fmt.Sprintf("rolled back: this witness cosigned %d entries of %s, the checkpoint has %d", wl.size, cp.Origin, cp.Size)})
	case cp.Size == wl.size && known && !bytes.Equal(cp.Hash, wl.root):
		return nil, wt.refuse(wl, &witnessError{status: http.StatusConflict, code: "forked", known: &size,
			msg: fmt.Sprintf("forked: this witness cosigned another root for %d entries of %s", wl.size, cp.Origin)})
	case req.OldSize != wl.size:
		return nil, wt.refuse(wl, &witnessError{status: http.StatusConflict, code: "old_size_mismatch", known: &size,
			msg: fmt.Sprintf("the proof starts at %d entries but this witness last cosigned %d", req.OldSize, wl.size)})
	}
	if wl.size > 0 && cp.Size > wl.size {
		hashes := make([][]byte, len(req.Proof))
		for i := range req.Proof {
			hashes[i] = req.Proof[i][:]
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, wl.size, cp.Size, hashes, wl.root, cp.Hash); err != nil {
			return nil, wt.refuse(wl, &witnessError{status: http.StatusUnprocessableEntity, code: "inconsistent",
				msg: fmt.Sprintf("the checkpoint of %d entries does not extend the one of %d this witness cosigned (%v): the log was rewritten",
					cp.Size, wl.size, err)})
		}
	}
	signed, err := note.Sign(&note.Note{Text: n.Text}, wt.signer)
	if err != nil {
		return nil, err
	}
	_, cosig, _ := bytes.Cut(signed, []byte("\n\n"))
	wl.size, wl.root = cp.Size, cp.Hash
	wl.note = append(append([]byte(nil), req.Checkpoint...), cosig...)
	wl.history = append(wl.history, WitnessedCheckpoint{Size: cp.Size, Cosigned: wt.now().UTC()})
	wt.logs[cp.Origin] = wl
	return cosig, nil
}

func (wt *witness) refuse(wl *witnessedLog, e *witnessError) error {
	wl.refused = append(wl.refused, WitnessRefusal{Code: e.code, Message: e.msg, At: wt.now().UTC()})
	return e
}

// WitnessView is what the witness holds for one log.
type WitnessView struct {
	Origin     string                `json:"origin"`
	LogKey     string                `json:"log_key"`
	Size       uint64                `json:"size"`
	Checkpoint string                `json:"checkpoint"` // newest cosigned, with every signature
	Cosigned   []WitnessedCheckpoint `json:"cosigned"`
	Refused    []WitnessRefusal      `json:"refused"`
}

func (wt *witness) views() []WitnessView {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	out := []WitnessView{}
	for origin, wl := range wt.logs {
		out = append(out, WitnessView{Origin: origin, LogKey: wl.vkey, Size: wl.size, Checkpoint: string(wl.note),
			Cosigned: append([]WitnessedCheckpoint{}, wl.history...), Refused: append([]WitnessRefusal{}, wl.refused...)})
	}
	return out
}

func (s *Server) handleAddCheckpoint(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, audit.MaxAddCheckpointBytes+1))
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "invalid_request", "read the body: "+err.Error())
		return
	}
	cosig, err := s.witness.add(body, r.Header.Get(AuditLogKeyHeader))
	var we *witnessError
	if errors.As(err, &we) {
		writeJSON(w, we.status, ErrorBody{Error: ErrorDetail{Code: we.code, Message: we.msg, RequestID: requestID(r), KnownSize: we.known}})
		return
	}
	if err != nil {
		writeError(w, r, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/x.tlog.cosignature")
	_, _ = w.Write(cosig)
}

// WitnessKey is the witness's verifier key (agentctl audit verify
// --witness-key).
func (s *Server) WitnessKey() string { return s.witness.vkey }

// Witnessed returns what the witness holds for every log.
func (s *Server) Witnessed() []WitnessView { return s.witness.views() }

func (s *Server) adminWitness(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"witness_key": s.witness.vkey, "logs": s.witness.views()})
}
