package model

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// BatchSink receives finished record batches. The Writer releases each
// record after WriteRecord returns, so a sink that keeps it must Retain it.
type BatchSink interface {
	WriteRecord(kind Kind, rec arrow.Record) error
}

// WriterOptions configure a Writer.
type WriterOptions struct {
	JobID       string
	ExtractedAt time.Time // default: now, UTC
	// MaxRows and MaxBytes bound a batch; whichever is reached first flushes.
	// Defaults: 8192 rows, 4 MiB of estimated payload.
	MaxRows  int
	MaxBytes int
	// ExcludeFields are written as null (data minimisation); each must be
	// one of ExcludableFields().
	ExcludeFields []string
	// MaxTextBytes caps every free-text field (TextFields): a longer value
	// is cut at a UTF-8 boundary at most this many bytes long and the
	// field is listed in the row's truncated_fields. 0 means
	// DefaultMaxTextBytes. Connectors read it (Writer.MaxTextBytes) to cap
	// in SQL as well, so a huge value never crosses the wire.
	MaxTextBytes int
	Allocator    memory.Allocator
}

// Limits of WriterOptions.MaxTextBytes. The default keeps real comments
// and routine bodies whole (large generated procedures reach a few hundred
// KiB) while bounding one row to a few MiB, whatever the catalog holds.
const (
	DefaultMaxTextBytes = 1 << 20
	MaxMaxTextBytes     = 64 << 20
)

// ValidateMaxTextBytes checks a text cap; 0 means the default.
func ValidateMaxTextBytes(n int) error {
	if n < 0 || n > MaxMaxTextBytes {
		return fmt.Errorf("%d is not a text cap: use 1 to %d bytes (0 means the default, %d)", n, MaxMaxTextBytes, DefaultMaxTextBytes)
	}
	return nil
}

// Writer builds bounded record batches per kind and hands them to a sink.
// It is not safe for concurrent use; a connector writes from one goroutine.
type Writer struct {
	sink      BatchSink
	opts      WriterOptions
	ts        arrow.Timestamp
	builders  map[Kind]*kindBuilder
	counts    map[Kind]int64
	truncated map[Kind]int64
	closed    bool
}

type kindBuilder struct {
	kind     Kind
	rb       *array.RecordBuilder
	excluded []bool // by field index
	text     []bool // by field index: capped at MaxTextBytes
	rows     int
	bytes    int
}

// ValidateExcludeFields checks an exclusion list; the error names every
// unknown field and lists the allowed ones.
func ValidateExcludeFields(fields []string) error {
	allowed := ExcludableFields()
	var bad []string
	for _, f := range fields {
		if !slices.Contains(allowed, f) {
			bad = append(bad, f)
		}
	}
	if len(bad) > 0 {
		sort.Strings(allowed)
		return fmt.Errorf("cannot exclude field(s) %s: excludable fields are %s", strings.Join(bad, ", "), strings.Join(allowed, ", "))
	}
	return nil
}

// NewWriter validates the options and returns a Writer.
func NewWriter(sink BatchSink, opts WriterOptions) (*Writer, error) {
	if sink == nil {
		return nil, errors.New("model: nil sink")
	}
	if opts.JobID == "" {
		return nil, errors.New("model: job id is empty")
	}
	if err := ValidateExcludeFields(opts.ExcludeFields); err != nil {
		return nil, err
	}
	if err := ValidateMaxTextBytes(opts.MaxTextBytes); err != nil {
		return nil, fmt.Errorf("model: max text bytes: %w", err)
	}
	if opts.MaxTextBytes == 0 {
		opts.MaxTextBytes = DefaultMaxTextBytes
	}
	if opts.ExtractedAt.IsZero() {
		opts.ExtractedAt = time.Now()
	}
	if opts.MaxRows <= 0 {
		opts.MaxRows = 8192
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 4 << 20
	}
	if opts.Allocator == nil {
		opts.Allocator = memory.NewGoAllocator()
	}
	ts, err := arrow.TimestampFromTime(opts.ExtractedAt.UTC(), arrow.Microsecond)
	if err != nil {
		return nil, fmt.Errorf("model: extracted_at: %w", err)
	}
	return &Writer{sink: sink, opts: opts, ts: ts, builders: map[Kind]*kindBuilder{}, counts: map[Kind]int64{},
		truncated: map[Kind]int64{}}, nil
}

// MaxTextBytes is the cap on free-text fields in effect.
func (w *Writer) MaxTextBytes() int { return w.opts.MaxTextBytes }

// Truncated returns, per kind, how many field values were cut at
// MaxTextBytes so far.
func (w *Writer) Truncated() map[Kind]int64 {
	out := make(map[Kind]int64, len(w.truncated))
	for k, v := range w.truncated {
		out[k] = v
	}
	return out
}

// Counts returns rows written so far per kind (flushed or not).
func (w *Writer) Counts() map[Kind]int64 {
	out := make(map[Kind]int64, len(w.counts))
	for k, v := range w.counts {
		out[k] = v
	}
	return out
}

func (w *Writer) builder(k Kind) *kindBuilder {
	if b, ok := w.builders[k]; ok {
		return b
	}
	schema := ArrowSchema(k)
	b := &kindBuilder{kind: k, rb: array.NewRecordBuilder(w.opts.Allocator, schema),
		excluded: make([]bool, schema.NumFields()), text: make([]bool, schema.NumFields())}
	for i, f := range schema.Fields() {
		b.excluded[i] = slices.Contains(w.opts.ExcludeFields, f.Name)
	}
	for i, d := range kindDefs[k] {
		b.text[len(commonDefs)+i] = d.text
	}
	w.builders[k] = b
	return b
}

// begin starts a row of kind k with the common fields and returns the
// builder positioned at the first kind-specific field. truncated is what
// the row says was cut already (see rowAppender.truncatedFields).
func (w *Writer) begin(k Kind, qn, parent string, truncated []string) (*rowAppender, error) {
	if w.closed {
		return nil, errors.New("model: write after Close")
	}
	if qn == "" {
		return nil, fmt.Errorf("model: %s row without qualified_name", k)
	}
	for _, f := range truncated {
		if allowed := TextFields(k); !slices.Contains(allowed, f) {
			return nil, fmt.Errorf("model: %s row %s lists %q as truncated; its text fields are %s", k, qn, f, strings.Join(allowed, ", "))
		}
	}
	b := w.builder(k)
	a := &rowAppender{b: b, i: 0, max: w.opts.MaxTextBytes, given: truncated}
	a.str(qn)
	a.str(parent)
	a.str(w.opts.JobID)
	a.b.rb.Field(a.i).(*array.TimestampBuilder).Append(w.ts)
	a.i++
	return a, nil
}

// end finishes a row and flushes the batch when it is full.
func (w *Writer) end(a *rowAppender) error {
	b := a.b
	b.rows++
	w.counts[b.kind]++
	if a.truncated > 0 {
		w.truncated[b.kind] += int64(a.truncated)
	}
	if b.rows >= w.opts.MaxRows || b.bytes >= w.opts.MaxBytes {
		return w.flush(b)
	}
	return nil
}

func (w *Writer) flush(b *kindBuilder) error {
	if b.rows == 0 {
		return nil
	}
	rec := b.rb.NewRecord()
	b.rows, b.bytes = 0, 0
	defer rec.Release()
	if err := w.sink.WriteRecord(b.kind, rec); err != nil {
		return fmt.Errorf("write %s batch: %w", b.kind, err)
	}
	return nil
}

// Flush hands every partial batch to the sink.
func (w *Writer) Flush() error {
	for _, k := range FileKinds {
		if b, ok := w.builders[k]; ok {
			if err := w.flush(b); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close flushes and releases the builders. It is safe to call twice.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	err := w.Flush()
	for _, b := range w.builders {
		b.rb.Release()
	}
	w.closed = true
	return err
}

// rowAppender appends one row's fields in schema order.
type rowAppender struct {
	b         *kindBuilder
	i         int
	max       int      // MaxTextBytes
	given     []string // text fields the row says were cut before
	cut       []string // text fields cut in this row, in schema order
	truncated int      // len of the row's truncated_fields
}

// capText cuts a text field's value to the cap and remembers the field.
func (a *rowAppender) capText(s string) string {
	if !a.b.text[a.i] || len(s) <= a.max {
		return s
	}
	name := a.b.rb.Schema().Field(a.i).Name
	if len(a.cut) == 0 || a.cut[len(a.cut)-1] != name {
		a.cut = append(a.cut, name)
	}
	return TruncateText(s, a.max)
}

// TruncateText returns the longest prefix of s of at most n bytes that
// does not split a UTF-8 sequence.
func TruncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

func (a *rowAppender) str(s string) {
	s = a.capText(s)
	a.b.rb.Field(a.i).(*array.StringBuilder).Append(s)
	a.b.bytes += len(s)
	a.i++
}

func (a *rowAppender) optStr(s *string) {
	fb := a.b.rb.Field(a.i).(*array.StringBuilder)
	if s == nil || a.b.excluded[a.i] {
		fb.AppendNull()
	} else {
		v := a.capText(*s)
		fb.Append(v)
		a.b.bytes += len(v)
	}
	a.i++
}

// truncatedFields appends the row's truncated_fields: the fields the row
// says were cut already (a row read back from a file; checked by begin)
// and those cut here, in schema order. It is the last field of every kind
// that has text fields.
func (a *rowAppender) truncatedFields() {
	names := a.cut
	if len(a.given) > 0 {
		names = nil
		for _, f := range TextFields(a.b.kind) {
			if slices.Contains(a.given, f) || slices.Contains(a.cut, f) {
				names = append(names, f)
			}
		}
	}
	a.truncated = len(names)
	a.strs(names)
}

func (a *rowAppender) boolean(v bool) {
	a.b.rb.Field(a.i).(*array.BooleanBuilder).Append(v)
	a.i++
}

func (a *rowAppender) i32(v int32) {
	a.b.rb.Field(a.i).(*array.Int32Builder).Append(v)
	a.i++
}

func (a *rowAppender) optI64(v *int64) {
	fb := a.b.rb.Field(a.i).(*array.Int64Builder)
	if v == nil {
		fb.AppendNull()
	} else {
		fb.Append(*v)
	}
	a.i++
}

func (a *rowAppender) optTime(t *time.Time) {
	fb := a.b.rb.Field(a.i).(*array.TimestampBuilder)
	if t == nil {
		fb.AppendNull()
	} else {
		ts, err := arrow.TimestampFromTime(t.UTC(), arrow.Microsecond)
		if err != nil {
			fb.AppendNull() // outside the representable range: unknown
		} else {
			fb.Append(ts)
		}
	}
	a.i++
}

func (a *rowAppender) strs(v []string) {
	lb := a.b.rb.Field(a.i).(*array.ListBuilder)
	lb.Append(true)
	vb := lb.ValueBuilder().(*array.StringBuilder)
	for _, s := range v {
		s = a.capText(s)
		vb.Append(s)
		a.b.bytes += len(s)
	}
	a.i++
}
