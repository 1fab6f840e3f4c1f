package model

import (
	"errors"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// validateRecord checks the buffers of a decoded record before anyone reads
// it. Arrow Go trusts offsets and lengths from the file, so a corrupt file
// that decodes would otherwise panic (or read out of bounds) on access.
func validateRecord(rec arrow.Record, sch *arrow.Schema) error {
	if int(rec.NumCols()) != sch.NumFields() {
		return fmt.Errorf("%d columns, the schema has %d", rec.NumCols(), sch.NumFields())
	}
	for i, col := range rec.Columns() {
		f := sch.Field(i)
		d := col.Data()
		if int64(d.Len()) != rec.NumRows() {
			return fmt.Errorf("field %s has %d values in a batch of %d rows", f.Name, d.Len(), rec.NumRows())
		}
		nulls, err := validateArray(d)
		if err != nil {
			return fmt.Errorf("field %s: %w", f.Name, err)
		}
		if !f.Nullable && nulls > 0 {
			return fmt.Errorf("field %s is not nullable but holds %d nulls", f.Name, nulls)
		}
	}
	return nil
}

// validateArray checks d's buffers are large enough and its offsets in
// range for the types the model uses, and returns its null count as the
// validity bitmap says.
func validateArray(d arrow.ArrayData) (int, error) {
	off, n := d.Offset(), d.Len()
	if off < 0 || n < 0 {
		return 0, errors.New("negative offset or length")
	}
	end := off + n
	bufs := d.Buffers()
	if len(bufs) < 2 {
		return 0, errors.New("missing buffers")
	}
	nulls := 0
	if bm := bufs[0]; bm != nil && bm.Len() > 0 && n > 0 {
		if bm.Len()*8 < end {
			return 0, errors.New("validity bitmap is too short")
		}
		nulls = n - bitutil.CountSetBits(bm.Bytes(), off, n)
	}
	if n == 0 {
		return 0, nil
	}
	need := func(b *memory.Buffer, bytes int) error {
		if b == nil || b.Len() < bytes {
			return errors.New("value buffer is too short")
		}
		return nil
	}
	switch d.DataType().ID() {
	case arrow.BOOL:
		return nulls, need(bufs[1], (end+7)/8)
	case arrow.INT32:
		return nulls, need(bufs[1], end*4)
	case arrow.INT64, arrow.TIMESTAMP:
		return nulls, need(bufs[1], end*8)
	case arrow.STRING:
		if len(bufs) < 3 {
			return 0, errors.New("missing buffers")
		}
		valuesLen := 0
		if bufs[2] != nil {
			valuesLen = bufs[2].Len()
		}
		return nulls, checkOffsets(bufs[1], off, end, valuesLen)
	case arrow.LIST:
		children := d.Children()
		if len(children) != 1 {
			return 0, errors.New("list without its values")
		}
		if _, err := validateArray(children[0]); err != nil {
			return 0, fmt.Errorf("list values: %w", err)
		}
		return nulls, checkOffsets(bufs[1], off, end, children[0].Len())
	default:
		return 0, fmt.Errorf("unexpected type %s", d.DataType())
	}
}

// checkOffsets checks int32 offsets[off..end] are non-decreasing and within
// [0, limit].
func checkOffsets(b *memory.Buffer, off, end, limit int) error {
	if b == nil || b.Len() < (end+1)*4 {
		return errors.New("offset buffer is too short")
	}
	offsets := arrow.Int32Traits.CastFromBytes(b.Bytes())[off : end+1]
	prev := offsets[0]
	if prev < 0 {
		return errors.New("negative offset")
	}
	for _, o := range offsets[1:] {
		if o < prev {
			return errors.New("offsets decrease")
		}
		prev = o
	}
	if int(prev) > limit {
		return fmt.Errorf("offsets end at %d past the %d values", prev, limit)
	}
	return nil
}
