package model

import (
	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// TruncatedIn counts the field values a record's rows list in
// truncated_fields: what files and manifests report as truncated. A kind
// without text fields has none.
func TruncatedIn(rec arrow.Record) int64 {
	idx := rec.Schema().FieldIndices(FieldTruncated)
	if len(idx) != 1 {
		return 0
	}
	l, ok := rec.Column(idx[0]).(*array.List)
	if !ok || l.Len() == 0 {
		return 0
	}
	start, _ := l.ValueOffsets(0)
	_, end := l.ValueOffsets(l.Len() - 1)
	return end - start
}
