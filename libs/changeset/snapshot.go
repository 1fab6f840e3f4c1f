package changeset

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/klauspost/compress/zstd"

	"github.com/secure-agent/secure-agent/libs/model"
)

// FormatVersion is the snapshot file format this agent writes and reads.
const FormatVersion = "1"

// Metadata keys of a snapshot file.
const (
	metaFormat        = "secure_agent.catalog_state"
	metaConnection    = "secure_agent.connection"
	metaJobID         = "secure_agent.job_id"
	metaSchemaVersion = "secure_agent.schema_version"
	metaCreatedAt     = "secure_agent.created_at"
	metaEntries       = "secure_agent.entries"
)

// Meta says which run a snapshot describes.
type Meta struct {
	Connection string
	// JobID is the job whose run left this state: the base a later run's
	// change set is computed against.
	JobID string
	// SchemaVersion is model.SchemaVersion when the digests were made: a
	// different version digests other fields, so every asset compares as
	// updated.
	SchemaVersion string
	CreatedAt     time.Time
}

// Snapshot is a connection's catalog state: one entry per asset, sorted by
// qualified name and then kind (table_stats share their table's name).
type Snapshot struct {
	Meta    Meta
	entries []Entry
}

// Compare orders entries by qualified name, then kind.
func Compare(a, b Entry) int {
	if c := strings.Compare(a.QualifiedName, b.QualifiedName); c != 0 {
		return c
	}
	return strings.Compare(string(a.Kind), string(b.Kind))
}

// NewSnapshot sorts entries (it keeps the slice) and refuses one asset
// listed twice.
func NewSnapshot(meta Meta, entries []Entry) (*Snapshot, error) {
	slices.SortFunc(entries, Compare)
	for i := 1; i < len(entries); i++ {
		if Compare(entries[i-1], entries[i]) == 0 {
			return nil, fmt.Errorf("changeset: %s %s is listed twice", entries[i].Kind, entries[i].QualifiedName)
		}
	}
	if meta.SchemaVersion == "" {
		meta.SchemaVersion = model.SchemaVersion
	}
	return &Snapshot{Meta: meta, entries: entries}, nil
}

// Len is the number of assets.
func (s *Snapshot) Len() int {
	if s == nil {
		return 0
	}
	return len(s.entries)
}

// Entries are the assets in order; the caller must not change them.
func (s *Snapshot) Entries() []Entry {
	if s == nil {
		return nil
	}
	return s.entries
}

// Lookup finds an asset.
func (s *Snapshot) Lookup(k model.Kind, qn string) (Entry, bool) {
	i, ok := s.index(k, qn)
	if !ok {
		return Entry{}, false
	}
	return s.entries[i], true
}

func (s *Snapshot) index(k model.Kind, qn string) (int, bool) {
	if s == nil {
		return 0, false
	}
	return slices.BinarySearchFunc(s.entries, Entry{Kind: k, QualifiedName: qn}, Compare)
}

var snapshotSchema = arrow.NewSchema([]arrow.Field{
	{Name: "kind", Type: arrow.BinaryTypes.String},
	{Name: "qualified_name", Type: arrow.BinaryTypes.String},
	{Name: "digest", Type: &arrow.FixedSizeBinaryType{ByteWidth: DigestSize}},
	{Name: "field_hashes", Type: arrow.BinaryTypes.Binary},
}, nil)

// snapshotBatch bounds the rows of one record batch in a snapshot file.
const snapshotBatch = 64 << 10

// Encode writes the snapshot as an Arrow IPC stream (zstd).
func (s *Snapshot) Encode() ([]byte, error) {
	return encodeEntries(s.Meta, s.entries, snapshotBatch)
}

// encodeEntries writes entries as a snapshot file of record batches of
// at most batch rows.
func encodeEntries(meta Meta, entries []Entry, batch int) ([]byte, error) {
	var buf bytes.Buffer
	if err := writeEntries(&buf, meta, entries, batch, ipc.WithZstd()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// chunkWindow is the zstd window a chunk file is written with: what a
// reader of it holds besides one record batch. Finalize reads a job's
// partition runs and the base at once, so every open reader counts: case
// b's publisher peaked at 250 MiB with 512 KiB.
const chunkWindow = 128 << 10

// maxChunkWindow is the largest window a chunk file may have been written
// with (512 KiB by the first version of the format).
const maxChunkWindow = 512 << 10

// encodeChunk writes entries as a chunk file: an Arrow IPC stream without
// body compression, in one zstd frame. Arrow's own compression starts a
// new decoder, with its buffers, for every record batch it reads; a chunk
// is decompressed by one small decoder as it streams.
func encodeChunk(enc *zstd.Encoder, meta Meta, entries []Entry, batch int) ([]byte, error) {
	var buf bytes.Buffer
	enc.Reset(&buf)
	if err := writeEntries(enc, meta, entries, batch); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("changeset: encode chunk: %w", err)
	}
	return buf.Bytes(), nil
}

// newChunkEncoder is the zstd encoder of a run's chunks.
func newChunkEncoder() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil, zstd.WithWindowSize(chunkWindow), zstd.WithEncoderConcurrency(1))
}

func writeEntries(out io.Writer, meta Meta, entries []Entry, batch int, opts ...ipc.Option) error {
	md := arrow.NewMetadata(
		[]string{metaFormat, metaConnection, metaJobID, metaSchemaVersion, metaCreatedAt, metaEntries},
		[]string{FormatVersion, meta.Connection, meta.JobID, meta.SchemaVersion,
			meta.CreatedAt.UTC().Format(time.RFC3339Nano), strconv.Itoa(len(entries))})
	sch := arrow.NewSchema(snapshotSchema.Fields(), &md)
	w := ipc.NewWriter(out, append([]ipc.Option{ipc.WithSchema(sch)}, opts...)...)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	defer b.Release()
	kinds := b.Field(0).(*array.StringBuilder)
	qns := b.Field(1).(*array.StringBuilder)
	digests := b.Field(2).(*array.FixedSizeBinaryBuilder)
	fields := b.Field(3).(*array.BinaryBuilder)
	flush := func() error {
		rec := b.NewRecord()
		defer rec.Release()
		return w.Write(rec)
	}
	var fb []byte
	for i, e := range entries {
		kinds.Append(string(e.Kind))
		qns.Append(e.QualifiedName)
		digests.Append(e.Digest[:])
		fb = fb[:0]
		for _, f := range e.Fields {
			fb = binary.LittleEndian.AppendUint32(fb, f)
		}
		fields.Append(fb)
		if (i+1)%batch == 0 {
			if err := flush(); err != nil {
				return fmt.Errorf("changeset: encode snapshot: %w", err)
			}
		}
	}
	if len(entries)%batch != 0 || len(entries) == 0 {
		if err := flush(); err != nil {
			return fmt.Errorf("changeset: encode snapshot: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("changeset: encode snapshot: %w", err)
	}
	return nil
}

// DecodeSnapshot reads a snapshot file and checks that it is sorted, that
// it holds the entries its metadata counts and that every entry is sound.
func DecodeSnapshot(data []byte) (*Snapshot, error) {
	s, err := decodeSnapshot(data)
	if err != nil {
		return nil, fmt.Errorf("changeset: read snapshot: %w", err)
	}
	return s, nil
}

func decodeSnapshot(data []byte) (*Snapshot, error) {
	d, err := newFileDecoder(data)
	if err != nil {
		return nil, err
	}
	defer d.close()
	entries := make([]Entry, 0, min(d.count, 1<<20))
	for {
		e, ok, err := d.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		entries = append(entries, e)
	}
	return &Snapshot{Meta: d.meta, entries: entries}, nil
}

// fileDecoder reads a snapshot file's entries one record batch at a time,
// checking that they are sorted and sound and that the file holds the
// entries its metadata counts.
type fileDecoder struct {
	r     *ipc.Reader
	zr    *zstd.Decoder // of a chunk file
	meta  Meta
	count int
	read  int
	last  Entry

	rec    arrow.Record
	row    int
	kinds  *array.String
	qns    *array.String
	digest *array.FixedSizeBinary
	fields *array.Binary
	// The batch's names and field hashes, copied once: its entries share
	// them, so a batch costs two allocations rather than two per entry.
	names    string
	nameOffs []int32
	hashes   []uint32
	hashOffs []int32
}

func newFileDecoder(data []byte) (*fileDecoder, error) {
	var src io.Reader = bytes.NewReader(data)
	var zr *zstd.Decoder
	if model.IsFramed(data) { // a chunk file (encodeChunk); a snapshot file starts with an Arrow IPC message
		var err error
		zr, err = zstd.NewReader(src, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(maxChunkWindow))
		if err != nil {
			return nil, fmt.Errorf("not a catalog-state file: %w", err)
		}
		src = zr
	}
	r, err := ipc.NewReader(src, ipc.WithSchema(snapshotSchema))
	if err != nil {
		if zr != nil {
			zr.Close()
		}
		return nil, fmt.Errorf("not a catalog-state file: %w", err)
	}
	md := r.Schema().Metadata()
	get := func(k string) string { v, _ := md.GetValue(k); return v }
	if v := get(metaFormat); v != FormatVersion {
		r.Release()
		closeZstd(zr)
		return nil, fmt.Errorf("catalog-state format %q, this agent reads %s", v, FormatVersion)
	}
	d := &fileDecoder{r: r, zr: zr, meta: Meta{Connection: get(metaConnection), JobID: get(metaJobID), SchemaVersion: get(metaSchemaVersion)}}
	if d.meta.CreatedAt, err = time.Parse(time.RFC3339Nano, get(metaCreatedAt)); err != nil {
		r.Release()
		closeZstd(zr)
		return nil, fmt.Errorf("created_at: %w", err)
	}
	if d.count, err = strconv.Atoi(get(metaEntries)); err != nil || d.count < 0 {
		r.Release()
		closeZstd(zr)
		return nil, fmt.Errorf("entries %q is not a count", get(metaEntries))
	}
	if d.meta.Connection == "" {
		r.Release()
		closeZstd(zr)
		return nil, errors.New("it names no connection")
	}
	return d, nil
}

func (d *fileDecoder) close() {
	d.r.Release()
	if d.zr != nil {
		d.zr.Close()
	}
}

// next answers the next entry; ok is false after the last one.
func (d *fileDecoder) next() (e Entry, ok bool, err error) {
	for d.rec == nil || d.row >= int(d.rec.NumRows()) {
		if !d.r.Next() {
			if err := d.r.Err(); err != nil {
				return Entry{}, false, err
			}
			if d.read != d.count {
				return Entry{}, false, fmt.Errorf("it holds %d entries, its metadata says %d", d.read, d.count)
			}
			return Entry{}, false, nil
		}
		d.rec, d.row = d.r.Record(), 0
		d.kinds = d.rec.Column(0).(*array.String)
		d.qns = d.rec.Column(1).(*array.String)
		d.digest = d.rec.Column(2).(*array.FixedSizeBinary)
		d.fields = d.rec.Column(3).(*array.Binary)
		d.names, d.nameOffs = string(d.qns.ValueBytes()), d.qns.ValueOffsets()
		fb := d.fields.ValueBytes()
		d.hashes, d.hashOffs = make([]uint32, len(fb)/4), d.fields.ValueOffsets()
		for j := range d.hashes {
			d.hashes[j] = binary.LittleEndian.Uint32(fb[4*j:])
		}
	}
	i, n := d.row, d.read
	d.row++
	if d.kinds.IsNull(i) || d.qns.IsNull(i) || d.digest.IsNull(i) || d.fields.IsNull(i) {
		return Entry{}, false, fmt.Errorf("entry %d has a null", n)
	}
	// ParseKind answers the kind's own string, not one that keeps the
	// record batch alive.
	k, err := model.ParseKind(d.kinds.Value(i))
	if err != nil || model.ArrowSchema(k) == nil {
		return Entry{}, false, fmt.Errorf("entry %d: unknown kind %q", n, d.kinds.Value(i))
	}
	fstart, fend := int(d.hashOffs[i]-d.hashOffs[0]), int(d.hashOffs[i+1]-d.hashOffs[0])
	if fstart%4 != 0 || fend%4 != 0 {
		return Entry{}, false, fmt.Errorf("entry %d: field hashes of %d bytes", n, fend-fstart)
	}
	qstart, qend := int(d.nameOffs[i]-d.nameOffs[0]), int(d.nameOffs[i+1]-d.nameOffs[0])
	e = Entry{Kind: k, QualifiedName: d.names[qstart:qend], Fields: d.hashes[fstart/4 : fend/4 : fend/4]}
	copy(e.Digest[:], d.digest.Value(i))
	if n > 0 && Compare(d.last, e) >= 0 {
		return Entry{}, false, fmt.Errorf("entry %d (%s %s) is out of order", n, e.Kind, e.QualifiedName)
	}
	if n >= d.count {
		return Entry{}, false, fmt.Errorf("it holds more entries than the %d its metadata says", d.count)
	}
	d.read++
	d.last = e
	return e, true, nil
}

func closeZstd(zr *zstd.Decoder) {
	if zr != nil {
		zr.Close()
	}
}
