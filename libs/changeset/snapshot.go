package changeset

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"

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
	md := arrow.NewMetadata(
		[]string{metaFormat, metaConnection, metaJobID, metaSchemaVersion, metaCreatedAt, metaEntries},
		[]string{FormatVersion, s.Meta.Connection, s.Meta.JobID, s.Meta.SchemaVersion,
			s.Meta.CreatedAt.UTC().Format(time.RFC3339Nano), strconv.Itoa(len(s.entries))})
	sch := arrow.NewSchema(snapshotSchema.Fields(), &md)
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(sch), ipc.WithZstd())
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
	for i, e := range s.entries {
		kinds.Append(string(e.Kind))
		qns.Append(e.QualifiedName)
		digests.Append(e.Digest[:])
		fb = fb[:0]
		for _, f := range e.Fields {
			fb = binary.LittleEndian.AppendUint32(fb, f)
		}
		fields.Append(fb)
		if (i+1)%snapshotBatch == 0 {
			if err := flush(); err != nil {
				return nil, fmt.Errorf("changeset: encode snapshot: %w", err)
			}
		}
	}
	if len(s.entries)%snapshotBatch != 0 || len(s.entries) == 0 {
		if err := flush(); err != nil {
			return nil, fmt.Errorf("changeset: encode snapshot: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("changeset: encode snapshot: %w", err)
	}
	return buf.Bytes(), nil
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
	r, err := ipc.NewReader(bytes.NewReader(data), ipc.WithSchema(snapshotSchema))
	if err != nil {
		return nil, fmt.Errorf("not a catalog-state file: %w", err)
	}
	defer r.Release()
	md := r.Schema().Metadata()
	get := func(k string) string { v, _ := md.GetValue(k); return v }
	if v := get(metaFormat); v != FormatVersion {
		return nil, fmt.Errorf("catalog-state format %q, this agent reads %s", v, FormatVersion)
	}
	meta := Meta{Connection: get(metaConnection), JobID: get(metaJobID), SchemaVersion: get(metaSchemaVersion)}
	if meta.CreatedAt, err = time.Parse(time.RFC3339Nano, get(metaCreatedAt)); err != nil {
		return nil, fmt.Errorf("created_at: %w", err)
	}
	count, err := strconv.Atoi(get(metaEntries))
	if err != nil || count < 0 {
		return nil, fmt.Errorf("entries %q is not a count", get(metaEntries))
	}
	entries := make([]Entry, 0, min(count, 1<<20))
	for r.Next() {
		rec := r.Record()
		kinds := rec.Column(0).(*array.String)
		qns := rec.Column(1).(*array.String)
		digests := rec.Column(2).(*array.FixedSizeBinary)
		fields := rec.Column(3).(*array.Binary)
		for i := range int(rec.NumRows()) {
			if kinds.IsNull(i) || qns.IsNull(i) || digests.IsNull(i) || fields.IsNull(i) {
				return nil, fmt.Errorf("entry %d has a null", len(entries))
			}
			k := model.Kind(kinds.Value(i))
			if model.ArrowSchema(k) == nil {
				return nil, fmt.Errorf("entry %d: unknown kind %q", len(entries), k)
			}
			fb := fields.Value(i)
			if len(fb)%4 != 0 {
				return nil, fmt.Errorf("entry %d: field hashes of %d bytes", len(entries), len(fb))
			}
			e := Entry{Kind: k, QualifiedName: qns.Value(i), Fields: make([]uint32, len(fb)/4)}
			copy(e.Digest[:], digests.Value(i))
			for j := range e.Fields {
				e.Fields[j] = binary.LittleEndian.Uint32(fb[4*j:])
			}
			if n := len(entries); n > 0 && Compare(entries[n-1], e) >= 0 {
				return nil, fmt.Errorf("entry %d (%s %s) is out of order", n, e.Kind, e.QualifiedName)
			}
			entries = append(entries, e)
		}
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	if len(entries) != count {
		return nil, fmt.Errorf("it holds %d entries, its metadata says %d", len(entries), count)
	}
	if meta.Connection == "" {
		return nil, errors.New("it names no connection")
	}
	return &Snapshot{Meta: meta, entries: entries}, nil
}
