package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// ExportLine is one line of an exported log (JSON lines): the head first,
// then every entry in order, then every checkpoint, oldest first.
type ExportLine struct {
	Head       *Head             `json:"head,omitempty"`
	Record     *Record           `json:"record,omitempty"`
	Checkpoint *CheckpointRecord `json:"checkpoint,omitempty"`
}

// WitnessView is what a witness says it last cosigned for a log: a
// verifier given one detects a log rolled back or forked behind it.
type WitnessView struct {
	Size uint64
	Root tlog.Hash
}

// VerifyOptions name the keys a log is checked with; none come from the
// log itself.
type VerifyOptions struct {
	Origin      string
	LogKey      note.Verifier
	WitnessKeys []note.Verifier
	// RequireCosigned fails a log whose newest checkpoint no witness
	// cosigned (checkpoints after the last cosigned one are reported).
	RequireCosigned bool
	// Witness, if set, is the witness's own latest cosigned checkpoint.
	Witness *WitnessView
	// Progress, if set, is called every 100,000 entries.
	Progress func(done uint64)
	// TSARoots, if set, must issue the signer of every RFC 3161 token
	// stored with a checkpoint (tokens are checked against their
	// checkpoint either way).
	TSARoots *x509.CertPool
}

// Problem is one thing wrong with a log. Seq is the first entry it
// concerns, or -1.
type Problem struct {
	Seq  int64  `json:"seq"`
	Kind string `json:"kind"`
	Msg  string `json:"message"`
	// derived problems follow from the tree as a whole (a checkpoint or
	// the witness disagrees) and sort after those an entry shows itself.
	derived bool
}

func (p Problem) String() string {
	if p.Seq >= 0 {
		return fmt.Sprintf("entry %d: %s (%s)", p.Seq, p.Msg, p.Kind)
	}
	return fmt.Sprintf("%s (%s)", p.Msg, p.Kind)
}

// Report is what Verify found.
type Report struct {
	Origin      string    `json:"origin"`
	Entries     uint64    `json:"entries"`
	Pruned      uint64    `json:"pruned"`
	Checkpoints int       `json:"checkpoints"`
	Cosigned    int       `json:"cosigned"`
	LastSigned  uint64    `json:"last_signed"`
	LastWitness uint64    `json:"last_cosigned"`
	WitnessTime time.Time `json:"last_cosigned_at,omitzero"`
	Timestamped int       `json:"timestamped"`
	TSATime     time.Time `json:"last_timestamp,omitzero"`
	Problems    []Problem `json:"problems,omitempty"`
}

// OK is true when nothing is wrong.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// First is the first problem, by entry.
func (r Report) First() (Problem, bool) {
	if len(r.Problems) == 0 {
		return Problem{}, false
	}
	return r.Problems[0], true
}

// maxLine bounds one exported line (an entry is at most MaxEntryBytes).
const maxLine = 4 * MaxEntryBytes

// Verify checks an exported log: every entry canonical, in sequence, and
// hashing to the leaf and tree hashes stored with it; every checkpoint
// signed by the log's key, matching the tree of its size, and cosigned by
// the witnesses where it says so; and, given the witness's own view, that
// the log was neither rolled back nor forked behind it. It returns an
// error only when the input cannot be read at all.
func Verify(r io.Reader, opts VerifyOptions) (Report, error) {
	if opts.LogKey == nil {
		return Report{}, errors.New("verify: no log key (the checkpoint verifier key, e.g. from agentctl audit key)")
	}
	v := &verifier{opts: opts, hashes: nil}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	line := 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var l ExportLine
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			v.problem(-1, "malformed", fmt.Sprintf("line %d is not an export line: %v", line, err))
			continue
		}
		switch {
		case l.Head != nil:
			v.head = l.Head
		case l.Record != nil:
			v.record(*l.Record)
		case l.Checkpoint != nil:
			v.checkpoints = append(v.checkpoints, *l.Checkpoint)
		default:
			v.problem(-1, "malformed", fmt.Sprintf("line %d holds nothing", line))
		}
	}
	if err := sc.Err(); err != nil {
		return Report{}, fmt.Errorf("read the exported log: %w", err)
	}
	v.finish()
	return v.report(), nil
}

type verifier struct {
	opts        VerifyOptions
	head        *Head
	next        uint64
	hashes      []tlog.Hash // every stored hash, recomputed from the leaves
	lastTime    string
	entries     uint64
	pruned      uint64
	checkpoints []CheckpointRecord
	problems    []Problem
	rep         Report
}

func (v *verifier) problem(seq int64, kind, msg string) {
	v.problems = append(v.problems, Problem{Seq: seq, Kind: kind, Msg: msg})
}

func (v *verifier) reader() tlog.HashReader {
	return tlog.HashReaderFunc(func(ix []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(ix))
		for i, x := range ix {
			if x < 0 || x >= int64(len(v.hashes)) {
				return nil, fmt.Errorf("hash %d not yet known", x)
			}
			out[i] = v.hashes[x]
		}
		return out, nil
	})
}

func (v *verifier) record(r Record) {
	seq := int64(r.Seq)
	switch {
	case r.Seq < v.next:
		v.problem(seq, "out-of-order", fmt.Sprintf("appears again after entry %d: entries were swapped or duplicated", v.next-1))
		return
	case r.Seq > v.next:
		v.problem(int64(v.next), "missing", fmt.Sprintf("is missing: the log jumps from entry %d to %d (deleted)", int64(v.next)-1, r.Seq))
		// Continue from here so later checks still run; the tree cannot
		// be rebuilt past a gap.
		v.next = r.Seq
		v.hashes = nil
		return
	}
	v.next++
	if len(r.Hashes) == 0 {
		v.problem(seq, "malformed", "has no leaf hash")
		v.hashes = nil
		return
	}
	leaf := r.Hashes[0]
	if r.Pruned {
		v.pruned++
		if r.Entry != "" {
			v.problem(seq, "malformed", "is marked pruned but still has a body")
		}
	} else {
		v.entries++
		e, err := ParseEntry([]byte(r.Entry))
		switch {
		case err != nil:
			v.problem(seq, "changed", "cannot be read: "+err.Error())
		case tlog.RecordHash([]byte(r.Entry)) != leaf:
			v.problem(seq, "changed", "its content does not hash to the leaf hash stored with it (changed after it was written)")
		case e.Seq != r.Seq:
			v.problem(seq, "out-of-order", fmt.Sprintf("holds entry %d's body (entries were swapped or moved)", e.Seq))
		case e.Time < v.lastTime:
			v.problem(seq, "out-of-order", fmt.Sprintf("is dated %s, before the entry ahead of it (%s)", e.Time, v.lastTime))
		default:
			v.lastTime = e.Time
		}
	}
	if v.hashes == nil && r.Seq > 0 {
		return // after a gap: entries are read but the tree is not rebuilt
	}
	want, err := tlog.StoredHashesForRecordHash(int64(r.Seq), leaf, v.reader())
	if err != nil {
		v.problem(seq, "malformed", "tree hashes: "+err.Error())
		v.hashes = nil
		return
	}
	if len(want) != len(r.Hashes) {
		v.problem(seq, "rewritten", fmt.Sprintf("stores %d tree hashes, its position needs %d", len(r.Hashes), len(want)))
	} else {
		for i := range want {
			if want[i] != r.Hashes[i] {
				v.problem(seq, "rewritten", "the tree hashes stored with it do not follow from the entries before it (entries before it were changed or removed)")
				break
			}
		}
	}
	v.hashes = append(v.hashes, want...)
	if v.opts.Progress != nil && v.next%100000 == 0 {
		v.opts.Progress(v.next)
	}
}

func (v *verifier) finish() {
	first := len(v.problems)
	defer func() {
		for i := first; i < len(v.problems); i++ {
			v.problems[i].derived = true
		}
		sort.SliceStable(v.problems, func(i, j int) bool {
			a, b := v.problems[i], v.problems[j]
			if a.derived != b.derived {
				return !a.derived
			}
			if a.Seq < 0 || b.Seq < 0 {
				return a.Seq >= 0 && b.Seq < 0
			}
			return a.Seq < b.Seq
		})
	}()
	size := v.next
	if v.head == nil {
		v.problem(-1, "malformed", "the export has no head line")
	} else {
		v.rep.Origin = v.head.Origin
		if v.opts.Origin != "" && v.head.Origin != v.opts.Origin {
			v.problem(-1, "origin", fmt.Sprintf("the log's origin is %q, not %q", v.head.Origin, v.opts.Origin))
		}
		if v.head.Size != size {
			v.problem(int64(min(size, v.head.Size)), "truncated",
				fmt.Sprintf("the head says %d entries but the export holds %d", v.head.Size, size))
		}
	}
	origin := v.opts.Origin
	if origin == "" && v.head != nil {
		origin = v.head.Origin
	}
	sort.SliceStable(v.checkpoints, func(i, j int) bool { return v.checkpoints[i].Size < v.checkpoints[j].Size })
	roots := map[uint64]tlog.Hash{}
	var lastCosigned uint64
	for _, c := range v.checkpoints {
		cp, err := ParseCheckpoint([]byte(c.Note), origin, v.opts.LogKey, v.opts.WitnessKeys...)
		if err != nil {
			var ce *CheckpointError
			kind := "malformed"
			if errors.As(err, &ce) {
				kind = ce.Kind
			}
			v.problem(-1, kind, fmt.Sprintf("checkpoint %d: %v", c.Size, err))
			continue
		}
		v.rep.Checkpoints++
		if len(c.TSAToken) > 0 {
			at, err := TSATime(c.TSAToken, []byte(c.Note), v.opts.TSARoots)
			if err != nil {
				v.problem(-1, "bad-timestamp", fmt.Sprintf("checkpoint %d: %v", c.Size, err))
			} else {
				v.rep.Timestamped++
				if at.After(v.rep.TSATime) {
					v.rep.TSATime = at
				}
			}
		}
		if cp.Size != c.Size {
			v.problem(-1, "malformed", fmt.Sprintf("checkpoint stored as size %d signs size %d", c.Size, cp.Size))
		}
		if prev, ok := roots[cp.Size]; ok && prev != cp.Root {
			v.problem(int64(cp.Size)-1, "forked", fmt.Sprintf("two signed checkpoints of size %d with different roots: the log was forked", cp.Size))
		}
		roots[cp.Size] = cp.Root
		v.rep.LastSigned = max(v.rep.LastSigned, cp.Size)
		if len(cp.Cosigned) > 0 {
			v.rep.Cosigned++
			if cp.Size >= lastCosigned {
				lastCosigned = cp.Size
				v.rep.WitnessTime = cp.Cosigned[0].Time
			}
		}
		if cp.Size > size {
			v.problem(int64(size), "truncated", fmt.Sprintf("checkpoint %d covers %d entries but the log holds %d: entries %d..%d were removed",
				cp.Size, cp.Size, size, size, cp.Size-1))
			continue
		}
		if v.hashes == nil {
			continue // a gap: already reported
		}
		root, err := tlog.TreeHash(int64(cp.Size), v.reader())
		if err != nil {
			v.problem(-1, "malformed", fmt.Sprintf("checkpoint %d: %v", cp.Size, err))
			continue
		}
		if root != cp.Root {
			v.problem(v.firstAfter(cp.Size), "rewritten", fmt.Sprintf("the entries do not hash to the root that checkpoint %d signed: an entry among %d..%d was rewritten after it was signed", cp.Size, v.firstAfter(cp.Size), cp.Size-1))
		}
	}
	v.rep.LastWitness = lastCosigned
	if v.opts.RequireCosigned && len(v.opts.WitnessKeys) > 0 && v.rep.LastSigned > lastCosigned {
		v.problem(-1, "not-cosigned", fmt.Sprintf("the newest checkpoint (%d entries) is not cosigned by a witness (last cosigned: %d)", v.rep.LastSigned, lastCosigned))
	}
	if w := v.opts.Witness; w != nil {
		switch {
		case w.Size > size:
			v.problem(int64(size), "rolled-back", fmt.Sprintf("the witness cosigned %d entries but the log holds %d: the log was rolled back or truncated", w.Size, size))
		case v.hashes != nil:
			if root, err := tlog.TreeHash(int64(w.Size), v.reader()); err == nil && root != w.Root {
				v.problem(v.firstAfter(w.Size), "forked", fmt.Sprintf("the log's first %d entries do not hash to the root the witness cosigned: the log was forked (an entry among %d..%d was rewritten)", w.Size, v.firstAfter(w.Size), w.Size-1))
			}
		}
	}
}

// firstAfter names the first entry a failed checkpoint of size s can be
// blamed on: the first entry after the last checkpoint below s whose root
// still matches.
func (v *verifier) firstAfter(s uint64) int64 {
	var good uint64
	for _, c := range v.checkpoints {
		if c.Size >= s {
			break
		}
		cp, err := ParseCheckpoint([]byte(c.Note), v.opts.Origin, v.opts.LogKey)
		if err != nil {
			continue
		}
		if root, err := tlog.TreeHash(int64(cp.Size), v.reader()); err == nil && root == cp.Root {
			good = cp.Size
		}
	}
	return int64(good)
}

func (v *verifier) report() Report {
	r := v.rep
	r.Entries, r.Pruned, r.Problems = v.entries, v.pruned, v.problems
	return r
}

// Export writes the log as JSON lines (ExportLine): head, entries in
// chunks, checkpoints.
func (l *Log) Export(ctx context.Context, w io.Writer) error {
	return l.ExportFrom(ctx, w, 0)
}

// ExportFrom is Export with the entries from seq from on only (the head
// and every checkpoint are always written), for tailing.
func (l *Log) ExportFrom(ctx context.Context, w io.Writer, from uint64) error {
	h := l.Head()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ExportLine{Head: &h}); err != nil {
		return err
	}
	const chunk = 512
	for ; from < h.Size; from += chunk {
		recs, err := l.read(ctx, from, min(from+chunk, h.Size), true)
		if err != nil {
			return err
		}
		for i := range recs {
			if err := enc.Encode(ExportLine{Record: &recs[i]}); err != nil {
				return err
			}
		}
	}
	for _, s := range h.Checkpoints {
		cp, err := l.LoadCheckpoint(ctx, s)
		if err != nil {
			continue // a removed checkpoint shows as one fewer; the verifier compares with the witness
		}
		if err := enc.Encode(ExportLine{Checkpoint: &cp}); err != nil {
			return err
		}
	}
	return nil
}
