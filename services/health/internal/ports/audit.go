package ports

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/services/health/internal/app"
)

// CallerHeader is set by daprd on every invoked request to the calling
// app's id, authenticated by its mTLS certificate.
const CallerHeader = "dapr-caller-app-id"

// exportTimeout bounds one export of the whole log.
const exportTimeout = 10 * time.Minute

// maxAppendBody bounds POST /v1/audit/entries.
const maxAppendBody = app.MaxAppendEntries * audit.MaxEntryBytes / 8

// AuditClientRoutes are the audit routes operators and agentctl call with
// the client token (appends are not among them: only apps append, through
// their sidecars).
var AuditClientRoutes = []string{"/v1/audit/export", "/v1/audit/proof", "/v1/audit/key", "/v1/audit/status"}

// ProofAnswer is GET /v1/audit/proof's answer.
type ProofAnswer struct {
	Seq        uint64   `json:"seq"`
	Size       uint64   `json:"size"`
	Entry      string   `json:"entry,omitempty"`
	Leaf       string   `json:"leaf"`
	Proof      []string `json:"proof"`
	Root       string   `json:"root"`
	Checkpoint string   `json:"checkpoint"`
}

// KeyAnswer is GET /v1/audit/key's answer.
type KeyAnswer struct {
	Origin      string `json:"origin"`
	VerifierKey string `json:"verifier_key"`
}

// RegisterAudit adds the audit log's routes:
//
//	POST /v1/audit/entries  ← apps, by service invocation (audit.AppendRequest)
//	GET  /v1/audit/export   → the log as JSON lines (audit.ExportLine)
//	GET  /v1/audit/proof?seq=N[&size=M] → ProofAnswer against checkpoint M (default: the newest)
//	GET  /v1/audit/key      → KeyAnswer
//	GET  /v1/audit/status   → app.AuditStatus
func RegisterAudit(f *fiber.App, w *app.AuditWriter) {
	f.Post(audit.AppendPath, func(c *fiber.Ctx) error {
		if len(c.Body()) > maxAppendBody {
			return errkind.New(errkind.Invalid, fmt.Sprintf("append body is %d bytes, over %d", len(c.Body()), maxAppendBody))
		}
		var req audit.AppendRequest
		if err := json.Unmarshal(c.Body(), &req); err != nil {
			return errkind.Wrap(errkind.Invalid, err, "decode audit.AppendRequest")
		}
		seqs, err := w.Append(c.UserContext(), c.Get(CallerHeader), req.RequestID, req.Entries)
		if err != nil {
			return err
		}
		return c.JSON(audit.AppendResponse{Seqs: seqs})
	})
	f.Get("/v1/audit/export", func(c *fiber.Ctx) error {
		from, err := strconv.ParseUint(c.Query("from", "0"), 10, 64)
		if err != nil {
			return errkind.New(errkind.Invalid, "from must be an entry's sequence number (?from=N)")
		}
		c.Set(fiber.HeaderContentType, "application/x-ndjson")
		c.Context().SetBodyStreamWriter(func(bw *bufio.Writer) {
			// The request's context ends with the handler; the stream
			// outlives it, bounded on its own.
			ctx, cancel := context.WithTimeout(context.Background(), exportTimeout)
			defer cancel()
			if err := w.Log().ExportFrom(ctx, bw, from); err != nil {
				_, _ = fmt.Fprintf(bw, "{\"error\":%q}\n", err.Error())
			}
			_ = bw.Flush()
		})
		return nil
	})
	f.Get("/v1/audit/proof", func(c *fiber.Ctx) error {
		seq, err := strconv.ParseUint(c.Query("seq"), 10, 64)
		if err != nil {
			return errkind.New(errkind.Invalid, "seq must be an entry's sequence number (?seq=N)")
		}
		h := w.Log().Head()
		size := h.LastCheckpoint
		if q := c.Query("size"); q != "" {
			if size, err = strconv.ParseUint(q, 10, 64); err != nil {
				return errkind.New(errkind.Invalid, "size must be a checkpoint's size (?size=M)")
			}
		}
		if size == 0 {
			return errkind.New(errkind.Conflict, "no checkpoint signed yet: an entry is proved against a signed checkpoint; wait for the next one")
		}
		cp, err := w.Log().LoadCheckpoint(c.UserContext(), size)
		if err != nil {
			return errkind.Wrap(errkind.NotFound, err, fmt.Sprintf("no checkpoint of size %d (checkpoints: %v)", size, h.Checkpoints))
		}
		if seq >= size {
			return errkind.New(errkind.Invalid, fmt.Sprintf("entry %d is not covered by checkpoint %d; use a later checkpoint", seq, size))
		}
		proof, root, err := w.Log().ProveEntry(c.UserContext(), seq, size)
		if err != nil {
			return err
		}
		recs, err := w.Log().Read(c.UserContext(), seq, seq+1)
		if err != nil {
			return err
		}
		ans := ProofAnswer{Seq: seq, Size: size, Entry: recs[0].Entry, Leaf: b64(recs[0].Hashes[0][:]),
			Root: b64(root[:]), Checkpoint: cp.Note, Proof: []string{}}
		for _, p := range proof {
			ans.Proof = append(ans.Proof, b64(p[:]))
		}
		return c.JSON(ans)
	})
	f.Get("/v1/audit/key", func(c *fiber.Ctx) error {
		return c.JSON(KeyAnswer{Origin: w.Log().Head().Origin, VerifierKey: w.VerifierKey()})
	})
	f.Get("/v1/audit/status", func(c *fiber.Ctx) error {
		return c.JSON(w.Status())
	})
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
