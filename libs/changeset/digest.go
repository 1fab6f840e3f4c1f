// Package changeset compares a run's extraction with the catalog state the
// last successful run of the same connection left (ADR 0015): it digests
// every asset row, keeps the digests as a snapshot, and turns the
// difference into created, updated and unchanged assets and tombstones,
// with the fail-safes that withhold deletions.
package changeset

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/secure-agent/secure-agent/libs/model"
)

// DigestSize is the size of an asset's content digest (SHA-256, cut).
const DigestSize = 16

// Entry is one asset as the catalog state remembers it.
type Entry struct {
	Kind          model.Kind
	QualifiedName string
	Digest        [DigestSize]byte
	// Fields holds a 32-bit hash of each attribute, in the order of
	// Attributes(Kind), so a plan can say which attributes changed.
	Fields []uint32
}

// notDigested are the fields that do not describe the asset: its key and
// when and by which job it was read.
var notDigested = map[string]bool{"qualified_name": true, "job_id": true, "extracted_at": true}

// Attributes are the fields of kind k an entry digests, in schema order.
func Attributes(k model.Kind) []string {
	s := model.ArrowSchema(k)
	if s == nil {
		return nil
	}
	var out []string
	for _, f := range s.Fields() {
		if !notDigested[f.Name] {
			out = append(out, f.Name)
		}
	}
	return out
}

// Digester turns the rows of one record batch into entries.
type Digester struct {
	kind  model.Kind
	rec   arrow.Record
	qn    *array.String
	cols  []arrow.Array // the digested columns, in Attributes order
	names []string
	buf   []byte
}

// NewDigester checks that rec holds kind k's schema (by field names and
// types) and returns a digester over its rows.
func NewDigester(k model.Kind, rec arrow.Record) (*Digester, error) {
	want := model.ArrowSchema(k)
	if want == nil {
		return nil, fmt.Errorf("changeset: unknown asset kind %q", k)
	}
	got := rec.Schema()
	if got.NumFields() != want.NumFields() {
		return nil, fmt.Errorf("changeset: a %s batch has %d fields, the %s schema %d", k, got.NumFields(), k, want.NumFields())
	}
	d := &Digester{kind: k, rec: rec}
	for i, f := range want.Fields() {
		g := got.Field(i)
		if g.Name != f.Name || !arrow.TypeEqual(g.Type, f.Type) {
			return nil, fmt.Errorf("changeset: field %d of a %s batch is %s %s, the schema says %s %s", i, k, g.Name, g.Type, f.Name, f.Type)
		}
		switch {
		case f.Name == "qualified_name":
			d.qn = rec.Column(i).(*array.String)
		case notDigested[f.Name]:
		default:
			d.cols = append(d.cols, rec.Column(i))
			d.names = append(d.names, f.Name)
		}
	}
	return d, nil
}

// Rows is the number of rows in the batch.
func (d *Digester) Rows() int { return int(d.rec.NumRows()) }

// Entry digests row i.
func (d *Digester) Entry(i int) (Entry, error) {
	e := Entry{Kind: d.kind, QualifiedName: d.qn.Value(i), Fields: make([]uint32, len(d.cols))}
	h := sha256.New()
	h.Write([]byte(d.kind))
	h.Write([]byte{0})
	for j, col := range d.cols {
		var err error
		d.buf, err = appendValue(d.buf[:0], col, i)
		if err != nil {
			return Entry{}, fmt.Errorf("changeset: %s %s field %s: %w", d.kind, e.QualifiedName, d.names[j], err)
		}
		f := fnv.New32a()
		f.Write(d.buf)
		e.Fields[j] = f.Sum32()
		h.Write([]byte(d.names[j]))
		h.Write([]byte{0})
		h.Write(binary.AppendUvarint(nil, uint64(len(d.buf))))
		h.Write(d.buf)
	}
	copy(e.Digest[:], h.Sum(nil))
	return e, nil
}

// appendValue appends a canonical encoding of row i of col: a tag byte
// (0 null, 1 value) and the value, lengths as uvarints.
func appendValue(b []byte, col arrow.Array, i int) ([]byte, error) {
	if col.IsNull(i) {
		return append(b, 0), nil
	}
	b = append(b, 1)
	switch c := col.(type) {
	case *array.String:
		s := c.Value(i)
		b = binary.AppendUvarint(b, uint64(len(s)))
		return append(b, s...), nil
	case *array.Boolean:
		if c.Value(i) {
			return append(b, 1), nil
		}
		return append(b, 0), nil
	case *array.Int32:
		return binary.LittleEndian.AppendUint64(b, uint64(int64(c.Value(i)))), nil
	case *array.Int64:
		return binary.LittleEndian.AppendUint64(b, uint64(c.Value(i))), nil
	case *array.Timestamp:
		return binary.LittleEndian.AppendUint64(b, uint64(c.Value(i))), nil
	case *array.Float64:
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(c.Value(i))), nil
	case *array.List:
		start, end := c.ValueOffsets(i)
		b = binary.AppendUvarint(b, uint64(end-start))
		vals := c.ListValues()
		for k := start; k < end; k++ {
			var err error
			if b, err = appendValue(b, vals, int(k)); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	return nil, fmt.Errorf("values of type %s cannot be digested", col.DataType())
}

// EntriesOf digests every row of a batch of kind k.
func EntriesOf(k model.Kind, rec arrow.Record) ([]Entry, error) {
	d, err := NewDigester(k, rec)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, d.Rows())
	for i := range d.Rows() {
		e, err := d.Entry(i)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// ChangedAttributes names the attributes whose hashes differ between two
// entries of one kind (an attribute whose hash collides is missed: the
// digest, not this list, decides that an asset changed).
func ChangedAttributes(old, cur Entry) []string {
	names := Attributes(cur.Kind)
	var out []string
	for i, n := range names {
		if i >= len(old.Fields) || i >= len(cur.Fields) || old.Fields[i] != cur.Fields[i] {
			out = append(out, n)
		}
	}
	return out
}
