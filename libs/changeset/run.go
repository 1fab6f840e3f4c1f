package changeset

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/secure-agent/secure-agent/libs/model"
)

// A run is a sorted sequence of entries kept as chunk files of at most
// ChunkEntries entries each, listed by an index file: the shape of a
// catalog state and of a partition's digests, so that neither has to be
// held in memory whole (ADR 0018). Readers stream it one record batch at a
// time; a lookup keeps a few decoded chunks.

// ChunkEntries is the most entries one chunk file holds.
const ChunkEntries = 16384

// chunkBatch bounds the rows of one record batch in a chunk file: what a
// streaming reader decodes at a time.
const chunkBatch = 1024

// IndexFormat names the index file format this agent writes and reads.
const IndexFormat = "secure_agent.run/1"

// Store is where a run's files live (the publisher's staging). A missing
// file is an error the caller can tell (errkind.NotFound).
type Store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, data []byte) error
}

// Chunk is one file of a run.
type Chunk struct {
	Key     string `json:"key"`
	SHA256  string `json:"sha256"`
	Entries int    `json:"entries"`
	// FirstKind and First are the kind and qualified name of its first
	// entry: a lookup finds the chunk that may hold an asset by them.
	FirstKind model.Kind `json:"first_kind"`
	First     string     `json:"first"`
}

// Index lists a run's chunks in order.
type Index struct {
	Format        string    `json:"format"`
	Connection    string    `json:"connection"`
	JobID         string    `json:"job_id"`
	SchemaVersion string    `json:"schema_version"`
	CreatedAt     time.Time `json:"created_at"`
	Entries       int       `json:"entries"`
	Chunks        []Chunk   `json:"chunks"`
}

// Meta is the run's metadata.
func (x Index) Meta() Meta {
	return Meta{Connection: x.Connection, JobID: x.JobID, SchemaVersion: x.SchemaVersion, CreatedAt: x.CreatedAt}
}

// RunRef locates a run: its index file and that file's sha256.
type RunRef struct {
	Key     string `json:"key"`
	SHA256  string `json:"sha256"`
	Entries int    `json:"entries"`
	// Bytes is the size of every file of the run.
	Bytes int64 `json:"bytes"`
}

// SingleFile is the index of a run kept, as before runs, in one snapshot
// file (key, sha256 and entries from its pointer): its metadata is read
// from the file itself.
func SingleFile(key, sum string, entries int) Index {
	return Index{Format: IndexFormat, Entries: entries, Chunks: []Chunk{{Key: key, SHA256: sum, Entries: entries}}}
}

// RunWriter writes sorted entries as a run.
type RunWriter struct {
	enc    *zstd.Encoder
	store  Store
	prefix string
	meta   Meta
	buf    []Entry
	idx    Index
	bytes  int64
	last   Entry
	n      int
}

// NewRunWriter starts a run whose files are prefix + "NNNNN.arrows" and
// prefix + "index.json".
func NewRunWriter(store Store, prefix string, meta Meta) *RunWriter {
	if meta.SchemaVersion == "" {
		meta.SchemaVersion = model.SchemaVersion
	}
	return &RunWriter{store: store, prefix: prefix, meta: meta, buf: make([]Entry, 0, ChunkEntries),
		idx: Index{Format: IndexFormat, Connection: meta.Connection, JobID: meta.JobID,
			SchemaVersion: meta.SchemaVersion, CreatedAt: meta.CreatedAt.UTC()}}
}

// Add appends e, which must sort after every entry added before.
func (w *RunWriter) Add(ctx context.Context, e Entry) error {
	if w.n > 0 {
		switch c := Compare(w.last, e); {
		case c == 0:
			return fmt.Errorf("changeset: %s %s is listed twice", e.Kind, e.QualifiedName)
		case c > 0:
			return fmt.Errorf("changeset: %s %s comes after %s %s: a run must be sorted", e.Kind, e.QualifiedName, w.last.Kind, w.last.QualifiedName)
		}
	}
	w.buf = append(w.buf, e)
	w.last = e
	w.n++
	if len(w.buf) == ChunkEntries {
		return w.flush(ctx)
	}
	return nil
}

// Len is the number of entries added.
func (w *RunWriter) Len() int { return w.n }

func (w *RunWriter) flush(ctx context.Context) error {
	if len(w.buf) == 0 {
		return nil
	}
	if w.enc == nil {
		var err error
		if w.enc, err = newChunkEncoder(); err != nil {
			return fmt.Errorf("changeset: %w", err)
		}
	}
	data, err := encodeChunk(w.enc, w.meta, w.buf, chunkBatch)
	if err != nil {
		return err
	}
	key := fmt.Sprintf("%s%05d.arrows", w.prefix, len(w.idx.Chunks))
	if err := w.store.Put(ctx, key, data); err != nil {
		return fmt.Errorf("changeset: write %s: %w", key, err)
	}
	sum := sha256.Sum256(data)
	w.idx.Chunks = append(w.idx.Chunks, Chunk{Key: key, SHA256: hex.EncodeToString(sum[:]), Entries: len(w.buf),
		FirstKind: w.buf[0].Kind, First: w.buf[0].QualifiedName})
	w.bytes += int64(len(data))
	w.buf = w.buf[:0]
	return nil
}

// Close writes what is left and the index, and answers where the run is.
func (w *RunWriter) Close(ctx context.Context) (RunRef, error) {
	if err := w.flush(ctx); err != nil {
		return RunRef{}, err
	}
	w.idx.Entries = w.n
	data, err := json.Marshal(w.idx)
	if err != nil {
		return RunRef{}, fmt.Errorf("changeset: encode the index of %s: %w", w.prefix, err)
	}
	key := w.prefix + "index.json"
	if err := w.store.Put(ctx, key, data); err != nil {
		return RunRef{}, fmt.Errorf("changeset: write %s: %w", key, err)
	}
	sum := sha256.Sum256(data)
	return RunRef{Key: key, SHA256: hex.EncodeToString(sum[:]), Entries: w.n, Bytes: w.bytes + int64(len(data))}, nil
}

// LoadIndex reads a run's index and checks it against its reference.
func LoadIndex(ctx context.Context, store Store, ref RunRef) (Index, error) {
	data, err := store.Get(ctx, ref.Key)
	if err != nil {
		return Index{}, fmt.Errorf("read %s: %w", ref.Key, err)
	}
	if got := sha(data); got != ref.SHA256 {
		return Index{}, corrupt("%s has sha256 %s, its record says %s (changed or corrupted)", ref.Key, got, ref.SHA256)
	}
	var x Index
	if err := json.Unmarshal(data, &x); err != nil {
		return Index{}, corrupt("%s is not a run index: %v", ref.Key, err)
	}
	if x.Format != IndexFormat {
		return Index{}, fmt.Errorf("%s is a run index of format %q, this agent reads %s", ref.Key, x.Format, IndexFormat)
	}
	total := 0
	for _, c := range x.Chunks {
		total += c.Entries
	}
	if total != x.Entries || x.Entries != ref.Entries {
		return Index{}, corrupt("%s counts %d entries in its chunks, %d in all and its record %d", ref.Key, total, x.Entries, ref.Entries)
	}
	return x, nil
}

func sha(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Verify reads every chunk of a run and checks its sha256 and metadata
// (not its entries): what a run that must be usable to the end is checked
// by first.
func Verify(ctx context.Context, store Store, x Index) error {
	for _, c := range x.Chunks {
		d, err := openChunk(ctx, store, &x, c)
		if err != nil {
			return err
		}
		d.close()
	}
	return nil
}

// CorruptError says a file of a run is not what its index or record says:
// it was changed or corrupted where it is kept, and reading it again will
// not help.
type CorruptError struct{ msg string }

func (e *CorruptError) Error() string { return e.msg }

func corrupt(format string, args ...any) error {
	return &CorruptError{msg: fmt.Sprintf(format, args...)}
}

// Iterator yields entries in order; ok is false after the last one.
type Iterator interface {
	Next() (e Entry, ok bool, err error)
}

// RunReader streams a run's entries, one chunk file and one record batch
// at a time, checking each chunk's sha256, metadata and count and the
// order across chunks.
type RunReader struct {
	ctx   context.Context
	store Store
	idx   Index
	chunk int
	dec   *fileDecoder
	last  Entry
	n     int
}

// NewRunReader reads the run x lists.
func NewRunReader(ctx context.Context, store Store, x Index) *RunReader {
	return &RunReader{ctx: ctx, store: store, idx: x}
}

// Next answers the next entry.
func (r *RunReader) Next() (Entry, bool, error) {
	for {
		if r.dec == nil {
			if r.chunk == len(r.idx.Chunks) {
				if r.n != r.idx.Entries {
					return Entry{}, false, corrupt("changeset: the run holds %d entries, its index says %d", r.n, r.idx.Entries)
				}
				return Entry{}, false, nil
			}
			if err := r.open(r.idx.Chunks[r.chunk]); err != nil {
				return Entry{}, false, err
			}
		}
		c := r.idx.Chunks[r.chunk]
		e, ok, err := r.dec.next()
		if err != nil {
			return Entry{}, false, corrupt("changeset: read %s: %v", c.Key, err)
		}
		if !ok {
			r.dec.close()
			r.dec = nil
			r.chunk++
			continue
		}
		if r.n > 0 && Compare(r.last, e) >= 0 {
			return Entry{}, false, corrupt("changeset: read %s: %s %s is out of order", c.Key, e.Kind, e.QualifiedName)
		}
		r.last = e
		r.n++
		return e, true, nil
	}
}

// Close releases the chunk being read.
func (r *RunReader) Close() {
	if r.dec != nil {
		r.dec.close()
		r.dec = nil
	}
}

func (r *RunReader) open(c Chunk) error {
	d, err := openChunk(r.ctx, r.store, &r.idx, c)
	if err != nil {
		return err
	}
	r.dec = d
	return nil
}

// openChunk reads chunk c of the run x lists and checks its sha256 and
// metadata against x.
func openChunk(ctx context.Context, store Store, x *Index, c Chunk) (*fileDecoder, error) {
	data, err := store.Get(ctx, c.Key)
	if err != nil {
		return nil, fmt.Errorf("changeset: read %s: %w", c.Key, err)
	}
	if got := sha(data); got != c.SHA256 {
		return nil, corrupt("changeset: %s has sha256 %s, its index says %s (changed or corrupted)", c.Key, got, c.SHA256)
	}
	d, err := newFileDecoder(data)
	if err != nil {
		return nil, corrupt("changeset: read %s: %v", c.Key, err)
	}
	if err := checkChunkMeta(x, d, c); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// checkChunkMeta checks a chunk file against its index; the index of a
// single-file run takes its metadata from the file.
func checkChunkMeta(x *Index, d *fileDecoder, c Chunk) error {
	if x.Connection == "" {
		x.Connection, x.JobID, x.SchemaVersion, x.CreatedAt = d.meta.Connection, d.meta.JobID, d.meta.SchemaVersion, d.meta.CreatedAt
	}
	switch {
	case d.meta.Connection != x.Connection || d.meta.JobID != x.JobID:
		return corrupt("changeset: %s is of connection %s job %s, its index says connection %s job %s",
			c.Key, d.meta.Connection, d.meta.JobID, x.Connection, x.JobID)
	case d.count != c.Entries:
		return corrupt("changeset: %s holds %d entries, its index says %d", c.Key, d.count, c.Entries)
	}
	return nil
}

// SliceIterator yields the entries of a sorted slice.
type SliceIterator struct {
	entries []Entry
	i       int
}

// Slice iterates entries, which must be sorted.
func Slice(entries []Entry) *SliceIterator { return &SliceIterator{entries: entries} }

// Next answers the next entry.
func (s *SliceIterator) Next() (Entry, bool, error) {
	if s.i == len(s.entries) {
		return Entry{}, false, nil
	}
	s.i++
	return s.entries[s.i-1], true, nil
}
