package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"time"

	tlogfmt "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Head is the log's current state, stored at audit/head.
type Head struct {
	Origin string `json:"origin"`
	Size   uint64 `json:"size"`
	Root   string `json:"root"` // base64, RFC 6962 tree hash of Size entries
	// LastCheckpoint is the size of the newest signed checkpoint (0: none).
	LastCheckpoint uint64 `json:"last_checkpoint,omitempty"`
	// LastCosigned is the size of the newest checkpoint the witness
	// cosigned (0: none).
	LastCosigned uint64 `json:"last_cosigned,omitempty"`
	// Checkpoints lists every checkpoint's size, oldest first.
	Checkpoints []uint64 `json:"checkpoints,omitempty"`
	// PrunedBefore: entries below this sequence keep only their hashes.
	PrunedBefore uint64 `json:"pruned_before,omitempty"`
}

// record is what is stored for one entry: its canonical body (absent once
// pruned) and the tree hashes its leaf completes, the leaf hash first.
type record struct {
	Body   string      `json:"body,omitempty"`
	Pruned bool        `json:"pruned,omitempty"`
	Hashes []tlog.Hash `json:"hashes"`
}

// CheckpointRecord is a stored checkpoint: the signed note (with the
// witness's cosignature lines once it cosigned) and an RFC 3161 token.
type CheckpointRecord struct {
	Size uint64 `json:"size"`
	Note string `json:"note"`
	// Cosigned is when the witness's cosignature was stored (its own
	// timestamp is inside the signature).
	Cosigned string `json:"cosigned,omitempty"`
	TSAToken []byte `json:"tsa_token,omitempty"`
}

// Options configure a Log.
type Options struct {
	// Origin names the log in its checkpoints (C2SP: a schema-less URL),
	// e.g. "secure-agent.example/acme-prod".
	Origin string
	// Signer signs checkpoints (an Ed25519 note key named Origin).
	Signer note.Signer
	// Now is the clock (time.Now if nil).
	Now func() time.Time
}

// Log is the writer's view of the log. Its methods are safe for
// concurrent use; appends are serialised.
type Log struct {
	store Store
	opts  Options

	mu    sync.Mutex
	head  Head
	etag  string
	found bool
	cache map[int64]tlog.Hash
}

const maxCachedHashes = 1 << 16

// Open reads the head (or starts an empty log) and checks it belongs to
// opts.Origin.
func Open(ctx context.Context, store Store, opts Options) (*Log, error) {
	if opts.Origin == "" {
		return nil, errors.New("audit log: origin is empty (set AUDIT_ORIGIN, e.g. secure-agent.example/acme-prod)")
	}
	if opts.Signer == nil {
		return nil, errors.New("audit log: no checkpoint signing key")
	}
	if opts.Signer.Name() != opts.Origin {
		return nil, fmt.Errorf("audit log: the signing key is named %q but the log's origin is %q: "+
			"generate the key for the origin (agentctl audit keygen --origin %s)", opts.Signer.Name(), opts.Origin, opts.Origin)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &Log{store: store, opts: opts}
	if err := l.reload(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Log) reload(ctx context.Context) error {
	b, etag, found, err := l.store.LoadHead(ctx)
	if err != nil {
		return fmt.Errorf("read the audit log's head: %w", err)
	}
	return l.adopt(b, etag, found)
}

// adopt makes the stored head b (with its etag) this writer's view.
func (l *Log) adopt(b []byte, etag string, found bool) error {
	l.cache = map[int64]tlog.Hash{}
	if !found {
		l.head, l.etag, l.found = Head{Origin: l.opts.Origin, Root: b64(tlog.Hash{})}, "", false
		return nil
	}
	var h Head
	if err := json.Unmarshal(b, &h); err != nil {
		return fmt.Errorf("decode the audit log's head: %w", err)
	}
	if h.Origin != l.opts.Origin {
		return fmt.Errorf("the audit log in this store belongs to origin %q, but this installation's signing key is for %q: "+
			"a store keeps one installation's log. Give health the signing key of %q (AUDIT_SIGNING_KEY), or point "+
			"AUDIT_STATE_STORE at a store of its own (with PROFILE=redis: another SA_REDIS_DB, or the DATA_DIR that made that log)",
			h.Origin, l.opts.Origin, h.Origin)
	}
	l.head, l.etag, l.found = h, etag, true
	return nil
}

// Head returns the current head.
func (l *Log) Head() Head {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.head
	h.Checkpoints = append([]uint64(nil), h.Checkpoints...)
	return h
}

// Append stores entries durably as one commit and returns them as stored
// (with sequence and time). Nothing is stored when it fails.
func (l *Log) Append(ctx context.Context, entries ...Entry) ([]Entry, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	for i, e := range entries {
		if err := e.Validate(); err != nil {
			return nil, fmt.Errorf("audit entry %d of %d: %w", i+1, len(entries), err)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	out, _, err := l.appendRetrying(ctx, "", entries)
	return out, err
}

// AppendOnce is Append for a request that may arrive more than once: a
// caller's sidecar repeats a call whose answer was lost (the writer's
// sidecar died after the commit). The first arrival stores the entries and
// remembers requestID, in the same commit, for RequestMemory; a repeat
// stores nothing and answers the sequence numbers stored the first time.
// An empty requestID is a plain Append.
func (l *Log) AppendOnce(ctx context.Context, requestID string, entries ...Entry) ([]uint64, error) {
	if requestID != "" && !requestIDPattern.MatchString(requestID) {
		return nil, fmt.Errorf("audit request id %q: want 32 lowercase hex digits", requestID)
	}
	for i, e := range entries {
		if err := e.Validate(); err != nil {
			return nil, fmt.Errorf("audit entry %d of %d: %w", i+1, len(entries), err)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	out, seqs, err := l.appendRetrying(ctx, requestID, entries)
	if err != nil || seqs != nil {
		return seqs, err
	}
	seqs = make([]uint64, len(out))
	for i, e := range out {
		seqs[i] = e.Seq
	}
	return seqs, nil
}

// RequestMemory is how long AppendOnce remembers a request id: far longer
// than any caller repeats a call.
const RequestMemory = time.Hour

var requestIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

func requestKey(id string) string { return "audit/r/" + id }

// appendRetrying appends under l.mu. Our view may be stale (a retried
// commit that had landed, or a second writer): it reloads and appends on
// the new head, a bounded number of times. For a request already stored
// it returns the stored sequence numbers (repeat) and no entries.
func (l *Log) appendRetrying(ctx context.Context, requestID string, entries []Entry) (out []Entry, repeat []uint64, err error) {
	for try := 0; ; try++ {
		if requestID != "" {
			got, err := l.store.Get(ctx, []string{requestKey(requestID)})
			if err != nil {
				return nil, nil, fmt.Errorf("read audit request %s: %w", requestID, err)
			}
			if b, ok := got[requestKey(requestID)]; ok {
				var seqs []uint64
				if err := json.Unmarshal(b, &seqs); err != nil || len(seqs) != len(entries) {
					return nil, nil, fmt.Errorf("audit request %s was stored with other entries: %s", requestID, b)
				}
				return nil, seqs, nil
			}
		}
		out, err = l.append(ctx, entries, requestID)
		if !errors.Is(err, ErrConflict) || try == 8 {
			return out, nil, err
		}
		if rerr := l.reload(ctx); rerr != nil {
			return nil, nil, rerr
		}
	}
}

func (l *Log) append(ctx context.Context, entries []Entry, requestID string) ([]Entry, error) {
	if c, ok := l.store.(interface{ CheckBeforeCommit() bool }); ok && c.CheckBeforeCommit() {
		_, etag, _, err := l.store.LoadHead(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the audit log's head: %w", err)
		}
		if etag != l.etag {
			return nil, fmt.Errorf("audit head changed: %w", ErrConflict)
		}
	}
	now := FormatTime(l.opts.Now())
	pending := map[int64]tlog.Hash{}
	reader := l.reader(ctx, pending)
	c := Commit{Create: map[string][]byte{}, HeadETag: l.etag}
	out := make([]Entry, len(entries))
	size := l.head.Size
	for i, e := range entries {
		e.Seq, e.Time = size, now
		body, err := e.Canonical()
		if err != nil {
			return nil, err
		}
		hashes, err := tlog.StoredHashes(int64(size), body, reader)
		if err != nil {
			return nil, fmt.Errorf("audit entry %d: tree hashes: %w", size, err)
		}
		base := tlog.StoredHashIndex(0, int64(size))
		for j, h := range hashes {
			pending[base+int64(j)] = h
		}
		rec, err := json.Marshal(record{Body: string(body), Hashes: hashes})
		if err != nil {
			return nil, err
		}
		c.Create[entryKey(size)] = rec
		out[i] = e
		size++
	}
	root, err := tlog.TreeHash(int64(size), reader)
	if err != nil {
		return nil, fmt.Errorf("audit log: tree hash of %d entries: %w", size, err)
	}
	head := l.head
	head.Size, head.Root = size, b64(root)
	if c.Head, err = json.Marshal(head); err != nil {
		return nil, err
	}
	if requestID != "" {
		seqs := make([]uint64, len(out))
		for i, e := range out {
			seqs[i] = e.Seq
		}
		b, err := json.Marshal(seqs)
		if err != nil {
			return nil, err
		}
		c.Remember = map[string][]byte{requestKey(requestID): b}
	}
	if err := l.store.Commit(ctx, c); err != nil {
		return nil, fmt.Errorf("store %d audit entries from %d: %w", len(entries), l.head.Size, err)
	}
	if err := l.afterCommit(ctx, head, c.Head); err != nil {
		return nil, err
	}
	for k, v := range pending {
		l.cacheHash(k, v)
	}
	return out, nil
}

// afterCommit adopts head (stored as raw) as ours with its new etag. The
// etag comes from a read after the commit: if another writer committed
// in between, the stored head is no longer ours, and ours with its etag
// would let a later commit of this writer — a checkpoint, which creates
// no entry key to collide on — put an older head back over entries the
// other stored, after which no append could succeed. Then the stored
// head read back is adopted instead, as a reload does.
func (l *Log) afterCommit(ctx context.Context, head Head, raw []byte) error {
	b, etag, found, err := l.store.LoadHead(ctx)
	if err != nil {
		// The commit landed; without its etag the next commit conflicts
		// and reloads, which is safe.
		l.head, l.etag, l.found = head, "stale", true
		return nil
	}
	if !found || !sameHead(b, raw) {
		if err := l.adopt(b, etag, found); err != nil {
			l.head, l.etag, l.found = head, "stale", true
		}
		return nil
	}
	l.head, l.etag, l.found = head, etag, true
	return nil
}

// sameHead tells whether two encodings of a head hold the same head (a
// store may give back JSON re-encoded).
func sameHead(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var ha, hb Head
	if json.Unmarshal(a, &ha) != nil || json.Unmarshal(b, &hb) != nil {
		return false
	}
	ea, err1 := json.Marshal(ha)
	eb, err2 := json.Marshal(hb)
	return err1 == nil && err2 == nil && bytes.Equal(ea, eb)
}

func (l *Log) cacheHash(k int64, h tlog.Hash) {
	if len(l.cache) >= maxCachedHashes {
		l.cache = map[int64]tlog.Hash{}
	}
	l.cache[k] = h
}

// reader reads stored hashes from pending (this commit's), the cache,
// then the store.
func (l *Log) reader(ctx context.Context, pending map[int64]tlog.Hash) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		need := map[uint64][]int{} // record seq -> positions in out
		for i, x := range indexes {
			if h, ok := pending[x]; ok {
				out[i] = h
				continue
			}
			if h, ok := l.cache[x]; ok {
				out[i] = h
				continue
			}
			seq, _ := recordOf(x)
			need[seq] = append(need[seq], i)
		}
		if len(need) == 0 {
			return out, nil
		}
		keys := make([]string, 0, len(need))
		for seq := range need {
			keys = append(keys, entryKey(seq))
		}
		got, err := l.store.Get(ctx, keys)
		if err != nil {
			return nil, fmt.Errorf("read audit tree hashes: %w", err)
		}
		for seq, positions := range need {
			raw, ok := got[entryKey(seq)]
			if !ok {
				return nil, fmt.Errorf("audit entry %d is missing from the store (the log was damaged)", seq)
			}
			var r record
			if err := json.Unmarshal(raw, &r); err != nil {
				return nil, fmt.Errorf("decode audit entry %d: %w", seq, err)
			}
			for _, i := range positions {
				_, off := recordOf(indexes[i])
				if off >= len(r.Hashes) {
					return nil, fmt.Errorf("audit entry %d holds %d tree hashes, hash %d is missing (the log was damaged)", seq, len(r.Hashes), off)
				}
				out[i] = r.Hashes[off]
				l.cacheHash(indexes[i], r.Hashes[off])
			}
		}
		return out, nil
	})
}

// recordOf returns the entry whose append stored hash index x, and the
// hash's position in that entry's list.
func recordOf(x int64) (seq uint64, offset int) {
	level, n := tlog.SplitStoredHashIndex(x)
	r := ((n + 1) << uint(level)) - 1
	return uint64(r), int(x - tlog.StoredHashIndex(0, r))
}

// Checkpoint signs the current tree if it grew since the last checkpoint,
// stores the checkpoint and returns it; ok is false when there was nothing
// new to sign.
func (l *Log) Checkpoint(ctx context.Context) (_ CheckpointRecord, ok bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.head.Size == 0 || l.head.Size == l.head.LastCheckpoint {
		return CheckpointRecord{}, false, nil
	}
	root, err := unb64(l.head.Root)
	if err != nil {
		return CheckpointRecord{}, false, fmt.Errorf("audit head root: %w", err)
	}
	text := tlogfmt.Checkpoint{Origin: l.head.Origin, Size: l.head.Size, Hash: root[:]}.Marshal()
	signed, err := note.Sign(&note.Note{Text: string(text)}, l.opts.Signer)
	if err != nil {
		return CheckpointRecord{}, false, fmt.Errorf("sign audit checkpoint %d: %w", l.head.Size, err)
	}
	cp := CheckpointRecord{Size: l.head.Size, Note: string(signed)}
	raw, err := json.Marshal(cp)
	if err != nil {
		return CheckpointRecord{}, false, err
	}
	head := l.head
	head.LastCheckpoint = head.Size
	head.Checkpoints = append(append([]uint64(nil), head.Checkpoints...), head.Size)
	if err := l.commitHead(ctx, head, map[string][]byte{checkpointKey(cp.Size): raw}, nil); err != nil {
		return CheckpointRecord{}, false, fmt.Errorf("store audit checkpoint %d: %w", cp.Size, err)
	}
	return cp, true, nil
}

// commitHead writes head with creates and puts; on a conflict it reloads
// so the next call starts from the stored state.
func (l *Log) commitHead(ctx context.Context, head Head, create, put map[string][]byte) error {
	b, err := json.Marshal(head)
	if err != nil {
		return err
	}
	err = l.store.Commit(ctx, Commit{Create: create, Put: put, Head: b, HeadETag: l.etag})
	if err != nil {
		if errors.Is(err, ErrConflict) {
			_ = l.reload(ctx)
		}
		return err
	}
	return l.afterCommit(ctx, head, b)
}

// LoadCheckpoint returns the stored checkpoint of a size.
func (l *Log) LoadCheckpoint(ctx context.Context, size uint64) (CheckpointRecord, error) {
	got, err := l.store.Get(ctx, []string{checkpointKey(size)})
	if err != nil {
		return CheckpointRecord{}, fmt.Errorf("read audit checkpoint %d: %w", size, err)
	}
	raw, ok := got[checkpointKey(size)]
	if !ok {
		return CheckpointRecord{}, fmt.Errorf("audit checkpoint %d does not exist", size)
	}
	var cp CheckpointRecord
	if err := json.Unmarshal(raw, &cp); err != nil {
		return CheckpointRecord{}, fmt.Errorf("decode audit checkpoint %d: %w", size, err)
	}
	return cp, nil
}

// StoreCosigned replaces a checkpoint's note by the witness's cosigned
// note (the same text and log signature, plus the witness's lines) and
// its optional RFC 3161 token, and advances LastCosigned.
func (l *Log) StoreCosigned(ctx context.Context, cp CheckpointRecord) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cp.Cosigned == "" {
		cp.Cosigned = FormatTime(l.opts.Now())
	}
	raw, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	head := l.head
	if cp.Size > head.LastCosigned {
		head.LastCosigned = cp.Size
	}
	if err := l.commitHead(ctx, head, nil, map[string][]byte{checkpointKey(cp.Size): raw}); err != nil {
		return fmt.Errorf("store the cosignature of audit checkpoint %d: %w", cp.Size, err)
	}
	return nil
}

// StoreTSA keeps an RFC 3161 time-stamp token beside checkpoint size.
func (l *Log) StoreTSA(ctx context.Context, size uint64, token []byte) error {
	cp, err := l.LoadCheckpoint(ctx, size)
	if err != nil {
		return err
	}
	cp.TSAToken = token
	raw, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.commitHead(ctx, l.head, nil, map[string][]byte{checkpointKey(size): raw}); err != nil {
		return fmt.Errorf("store the time-stamp token of audit checkpoint %d: %w", size, err)
	}
	return nil
}

// ProveTree returns the consistency proof from the tree of size old to
// the tree of size new (RFC 6962), new ≤ the log's size.
func (l *Log) ProveTree(ctx context.Context, newSize, oldSize uint64) ([]tlog.Hash, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if newSize > l.head.Size || oldSize > newSize {
		return nil, fmt.Errorf("no consistency proof from %d to %d entries: the log has %d", oldSize, newSize, l.head.Size)
	}
	if oldSize == 0 || oldSize == newSize {
		return nil, nil
	}
	p, err := tlog.ProveTree(int64(newSize), int64(oldSize), l.reader(ctx, nil))
	if err != nil {
		return nil, fmt.Errorf("consistency proof %d→%d: %w", oldSize, newSize, err)
	}
	return p, nil
}

// ProveEntry returns the inclusion proof of entry seq in the tree of size
// (RFC 6962), and the tree's root.
func (l *Log) ProveEntry(ctx context.Context, seq, size uint64) ([]tlog.Hash, tlog.Hash, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if size > l.head.Size || seq >= size {
		return nil, tlog.Hash{}, fmt.Errorf("no proof of entry %d in a tree of %d entries: the log has %d", seq, size, l.head.Size)
	}
	r := l.reader(ctx, nil)
	p, err := tlog.ProveRecord(int64(size), int64(seq), r)
	if err != nil {
		return nil, tlog.Hash{}, fmt.Errorf("inclusion proof of entry %d: %w", seq, err)
	}
	root, err := tlog.TreeHash(int64(size), r)
	if err != nil {
		return nil, tlog.Hash{}, err
	}
	return p, root, nil
}

// Read returns the stored records of entries [from, to), for export: the
// body (empty once pruned) and the tree hashes.
func (l *Log) Read(ctx context.Context, from, to uint64) ([]Record, error) {
	return l.read(ctx, from, to, false)
}

func (l *Log) read(ctx context.Context, from, to uint64, skipMissing bool) ([]Record, error) {
	keys := make([]string, 0, to-from)
	for s := from; s < to; s++ {
		keys = append(keys, entryKey(s))
	}
	got, err := l.store.Get(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("read audit entries %d..%d: %w", from, to, err)
	}
	out := make([]Record, 0, len(keys))
	for s := from; s < to; s++ {
		raw, ok := got[entryKey(s)]
		if !ok {
			if skipMissing {
				continue // Export shows the gap; the verifier names it
			}
			return nil, fmt.Errorf("audit entry %d is missing from the store", s)
		}
		var r record
		if err := json.Unmarshal(raw, &r); err != nil {
			if skipMissing {
				out = append(out, Record{Seq: s, Entry: string(raw)})
				continue
			}
			return nil, fmt.Errorf("decode audit entry %d: %w", s, err)
		}
		out = append(out, Record{Seq: s, Entry: r.Body, Pruned: r.Pruned, Hashes: r.Hashes})
	}
	return out, nil
}

// Prune drops the bodies of entries older than before (and below the last
// cosigned checkpoint, so a witness saw them first), keeping their tree
// hashes, and records the pruning as an entry. It returns how many
// entries it pruned.
func (l *Log) Prune(ctx context.Context, before time.Time, app string) (int, error) {
	h := l.Head()
	limit := h.LastCosigned
	from := h.PrunedBefore
	const chunk = 256
	pruned, upTo := 0, from
	for upTo < limit {
		end := min(upTo+chunk, limit)
		recs, err := l.Read(ctx, upTo, end)
		if err != nil {
			return pruned, err
		}
		put := map[string][]byte{}
		stop := false
		for _, r := range recs {
			if r.Pruned {
				upTo = r.Seq + 1
				continue
			}
			e, err := ParseEntry([]byte(r.Entry))
			if err != nil {
				return pruned, fmt.Errorf("prune: %w", err)
			}
			if !mustTime(e.Time).Before(before) {
				stop = true
				break
			}
			raw, err := json.Marshal(record{Pruned: true, Hashes: r.Hashes})
			if err != nil {
				return pruned, err
			}
			put[entryKey(r.Seq)] = raw
			upTo = r.Seq + 1
		}
		if len(put) > 0 {
			if err := l.commitPrune(ctx, put, upTo); err != nil {
				return pruned, err
			}
			pruned += len(put)
		}
		if stop || len(recs) == 0 {
			break
		}
	}
	if pruned == 0 {
		return 0, nil
	}
	_, err := l.Append(ctx, Entry{
		Action: ActionAuditPruned, Actor: app, App: app, Target: l.opts.Origin, Outcome: OutcomeOK,
		Details: map[string]string{
			"entries":       strconv.Itoa(pruned),
			"first":         strconv.FormatUint(from, 10),
			"before_seq":    strconv.FormatUint(upTo, 10),
			"older_than":    FormatTime(before),
			"hashes_kept":   "true",
			"last_cosigned": strconv.FormatUint(limit, 10),
		},
	})
	return pruned, err
}

func (l *Log) commitPrune(ctx context.Context, put map[string][]byte, upTo uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	head := l.head
	if upTo > head.PrunedBefore {
		head.PrunedBefore = upTo
	}
	if err := l.commitHead(ctx, head, nil, put); err != nil {
		return fmt.Errorf("prune audit entries below %d: %w", upTo, err)
	}
	return nil
}

// Record is one entry as exported: its canonical body (empty when pruned)
// and the tree hashes stored with it, the leaf hash first.
type Record struct {
	Seq    uint64      `json:"seq"`
	Entry  string      `json:"entry,omitempty"`
	Pruned bool        `json:"pruned,omitempty"`
	Hashes []tlog.Hash `json:"hashes"`
}
