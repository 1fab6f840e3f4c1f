package conntest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/secure-agent/secure-agent/libs/model"
)

// Volatile are the fields golden files leave out: set by the Writer, or
// changing from run to run on a real server.
var Volatile = []string{"job_id", "extracted_at", "created_at", "altered_at", "last_analyzed", "row_count", "total_bytes"}

// Row is one received row: its kind and its fields by name (nil for null).
type Row struct {
	Kind   model.Kind
	Fields map[string]any
}

// Rows decodes every received row; each value is a string, bool, int64,
// []string, time in RFC 3339 or nil.
func (s *Sink) Rows() []Row {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Row
	for _, r := range s.records {
		for i := 0; i < int(r.rec.NumRows()); i++ {
			fields := make(map[string]any, r.rec.NumCols())
			for c, f := range r.rec.Schema().Fields() {
				fields[f.Name] = value(r.rec.Column(c), i)
			}
			out = append(out, Row{Kind: r.kind, Fields: fields})
		}
	}
	return out
}

func value(col arrow.Array, i int) any {
	if col.IsNull(i) {
		return nil
	}
	switch a := col.(type) {
	case *array.String:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	case *array.Int32:
		return int64(a.Value(i))
	case *array.Int64:
		return a.Value(i)
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return a.Value(i).ToTime(unit).UTC().Format("2006-01-02T15:04:05.999999Z07:00")
	case *array.List:
		start, end := a.ValueOffsets(i)
		vals := a.ListValues().(*array.String)
		out := make([]string, 0, end-start)
		for j := start; j < end; j++ {
			out = append(out, vals.Value(int(j)))
		}
		return out
	default:
		return fmt.Sprintf("<unsupported %s>", col.DataType())
	}
}

// Lines renders every row as one canonical JSON line ({"kind":...,
// field:value...} with sorted keys), without the dropped fields, sorted by
// kind (model.Kinds order), then qualified name, then the whole line.
func (s *Sink) Lines(drop ...string) []string {
	type line struct {
		kind int
		qn   string
		text string
	}
	var lines []line
	for _, r := range s.Rows() {
		m := map[string]any{"kind": string(r.Kind)}
		for k, v := range r.Fields {
			if !slices.Contains(drop, k) {
				m[k] = v
			}
		}
		b, err := json.Marshal(m)
		if err != nil {
			b = []byte(fmt.Sprintf(`{"error":%q}`, err.Error()))
		}
		qn, _ := r.Fields["qualified_name"].(string)
		lines = append(lines, line{kind: slices.Index(model.Kinds, r.Kind), qn: qn, text: string(b)})
	}
	sort.Slice(lines, func(i, j int) bool {
		a, b := lines[i], lines[j]
		if a.kind != b.kind {
			return a.kind < b.kind
		}
		if a.qn != b.qn {
			return a.qn < b.qn
		}
		return a.text < b.text
	})
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.text
	}
	return out
}

// Text joins lines into a golden file's content.
func Text(lines []string) string { return strings.Join(lines, "\n") + "\n" }
