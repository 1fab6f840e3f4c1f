package model

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/stretchr/testify/require"
)

func newTestWriter(t *testing.T, sink BatchSink, opts WriterOptions) *Writer {
	t.Helper()
	if opts.JobID == "" {
		opts.JobID = "job-1"
	}
	if opts.ExtractedAt.IsZero() {
		opts.ExtractedAt = sampleTime
	}
	w, err := NewWriter(sink, opts)
	require.NoError(t, err)
	return w
}

// batchRows returns each batch's row count and all qualified names in order.
func batchRows(s *memSink) ([]int64, []string) {
	var sizes []int64
	var qns []string
	for _, r := range s.recs {
		sizes = append(sizes, r.NumRows())
		col := r.Column(0).(*array.String)
		for i := 0; i < col.Len(); i++ {
			qns = append(qns, col.Value(i))
		}
	}
	return sizes, qns
}

func TestWriterBatchBounds(t *testing.T) {
	// Each row below carries 10+5+5+5 = 25 bytes of strings: qualified name,
	// parent, job id, database name.
	row := func(i int) Database {
		return Database{QualifiedName: fmt.Sprintf("conn/db%04d", i), ParentQualifiedName: "conn/", Name: fmt.Sprintf("db%03d", i)}
	}
	tests := []struct {
		name      string
		opts      WriterOptions
		rows      int
		wantSizes []int64
	}{
		{name: "max rows", opts: WriterOptions{JobID: "job-1", MaxRows: 3, MaxBytes: 1 << 20}, rows: 10, wantSizes: []int64{3, 3, 3, 1}},
		{name: "max bytes", opts: WriterOptions{JobID: "job-1", MaxRows: 1000, MaxBytes: 100}, rows: 10, wantSizes: []int64{4, 4, 2}},
		{name: "bytes before rows", opts: WriterOptions{JobID: "job-1", MaxRows: 5, MaxBytes: 50}, rows: 5, wantSizes: []int64{2, 2, 1}},
		{name: "rows before bytes", opts: WriterOptions{JobID: "job-1", MaxRows: 2, MaxBytes: 1000}, rows: 5, wantSizes: []int64{2, 2, 1}},
		{name: "exact multiple", opts: WriterOptions{JobID: "job-1", MaxRows: 5}, rows: 10, wantSizes: []int64{5, 5}},
		{name: "defaults", opts: WriterOptions{JobID: "job-1"}, rows: 10, wantSizes: []int64{10}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sink := &memSink{}
			defer sink.release()
			w := newTestWriter(t, sink, tc.opts)
			var want []string
			for i := 0; i < tc.rows; i++ {
				require.NoError(t, w.Database(row(i)))
				want = append(want, row(i).QualifiedName)
			}
			require.NoError(t, w.Close())
			sizes, qns := batchRows(sink)
			require.Equal(t, tc.wantSizes, sizes)
			require.Equal(t, want, qns, "rows must keep their order across batches")
		})
	}
}

func TestWriterFlushesFullBatchesBeforeClose(t *testing.T) {
	sink := &memSink{}
	defer sink.release()
	w := newTestWriter(t, sink, WriterOptions{MaxRows: 2})
	for i := 0; i < 5; i++ {
		require.NoError(t, w.Schema(Schema{QualifiedName: fmt.Sprintf("c/d/s%d", i), Database: "d", Name: "s"}))
	}
	require.Len(t, sink.recs, 2, "two full batches are handed over while the extraction runs")
	require.NoError(t, w.Flush())
	require.Len(t, sink.recs, 3)
	require.NoError(t, w.Close())
	require.Len(t, sink.recs, 3, "nothing left after Flush")
	require.Equal(t, []Kind{KindSchema, KindSchema, KindSchema}, sink.kinds)
}

// fullSample sets every nullable field, so exclusion is the only source
// of nulls.
func fullSample() sample {
	s := newSample()
	for i := range s.databases {
		s.databases[i].Owner, s.databases[i].Comment = Ptr("o"), Ptr("c")
	}
	for i := range s.schemas {
		s.schemas[i].Owner, s.schemas[i].Comment = Ptr("o"), Ptr("c")
	}
	for i := range s.tables {
		r := &s.tables[i]
		r.Owner, r.Comment, r.CreatedAt, r.AlteredAt = Ptr("o"), Ptr("c"), Ptr(sampleTime), Ptr(sampleTime)
		r.PartitionOf, r.ViewDefinition = Ptr("p"), Ptr("SELECT 1")
	}
	for i := range s.columns {
		r := &s.columns[i]
		r.Default, r.GenerationExpression, r.Comment = Ptr("0"), Ptr("a+1"), Ptr("c")
	}
	for i := range s.constraints {
		r := &s.constraints[i]
		r.ReferencedTableQN, r.CheckClause, r.OnUpdate, r.OnDelete = Ptr("t"), Ptr("x>0"), Ptr("CASCADE"), Ptr("CASCADE")
	}
	for i := range s.indexes {
		s.indexes[i].Method, s.indexes[i].Predicate = Ptr("btree"), Ptr("x>0")
	}
	for i := range s.routines {
		r := &s.routines[i]
		r.Language, r.ReturnType, r.Definition, r.Comment = Ptr("sql"), Ptr("int"), Ptr("SELECT 1"), Ptr("c")
	}
	for i := range s.stats {
		r := &s.stats[i]
		r.RowCount, r.TotalBytes, r.LastAnalyzed = Ptr(int64(1)), Ptr(int64(2)), Ptr(sampleTime)
	}
	return s
}

func writeToMem(t *testing.T, s sample, exclude []string) *memSink {
	t.Helper()
	sink := &memSink{}
	t.Cleanup(sink.release)
	w := newTestWriter(t, sink, WriterOptions{ExcludeFields: exclude})
	s.write(t, w)
	require.NoError(t, w.Close())
	require.Len(t, sink.recs, len(Kinds), "one batch per kind")
	return sink
}

func TestWriterExcludeFields(t *testing.T) {
	s := fullSample()
	base := writeToMem(t, s, nil)
	for i, rec := range base.recs {
		for c, col := range rec.Columns() {
			require.Zero(t, col.NullN(), "%s.%s: the full sample sets every field", base.kinds[i], rec.ColumnName(c))
		}
	}
	cases := [][]string{ExcludableFields()}
	for _, f := range ExcludableFields() {
		cases = append(cases, []string{f})
	}
	cases = append(cases, []string{"comment", "definition"})
	for _, exclude := range cases {
		t.Run(strings.Join(exclude, ","), func(t *testing.T) {
			got := writeToMem(t, s, exclude)
			nulled := 0
			for i, rec := range got.recs {
				require.Equal(t, base.kinds[i], got.kinds[i])
				for c, col := range rec.Columns() {
					name := rec.ColumnName(c)
					if slices.Contains(exclude, name) {
						require.Equal(t, col.Len(), col.NullN(), "%s.%s is excluded: every value must be null", got.kinds[i], name)
						nulled++
						continue
					}
					require.True(t, array.Equal(base.recs[i].Column(c), col), "%s.%s is not excluded and must be unchanged", got.kinds[i], name)
				}
			}
			require.Positive(t, nulled, "every excludable field exists in some kind")
		})
	}
}

func TestValidateExcludeFields(t *testing.T) {
	require.NoError(t, ValidateExcludeFields(nil))
	require.NoError(t, ValidateExcludeFields(ExcludableFields()))

	err := ValidateExcludeFields([]string{"comment", "password", "qualified_name"})
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, "password, qualified_name")
	require.NotContains(t, msg, "cannot exclude field(s) comment")
	for _, f := range ExcludableFields() {
		require.Contains(t, msg, f, "the message lists every allowed field")
	}

	_, err = NewWriter(&memSink{}, WriterOptions{JobID: "j", ExcludeFields: []string{"job_id"}})
	require.ErrorContains(t, err, "job_id")
}

func TestNewWriterRejects(t *testing.T) {
	_, err := NewWriter(nil, WriterOptions{JobID: "j"})
	require.ErrorContains(t, err, "nil sink")
	_, err = NewWriter(&memSink{}, WriterOptions{})
	require.ErrorContains(t, err, "job id is empty")
}

// writeOne writes a row of kind k with the given qualified name.
func writeOne(w *Writer, k Kind, qn string) error {
	switch k {
	case KindDatabase:
		return w.Database(Database{QualifiedName: qn})
	case KindSchema:
		return w.Schema(Schema{QualifiedName: qn})
	case KindTable:
		return w.Table(Table{QualifiedName: qn, Kind: TableKindTable})
	case KindColumn:
		return w.Column(Column{QualifiedName: qn})
	case KindConstraint:
		return w.Constraint(Constraint{QualifiedName: qn})
	case KindIndex:
		return w.Index(Index{QualifiedName: qn})
	case KindRoutine:
		return w.Routine(Routine{QualifiedName: qn})
	case KindLineage:
		return w.Lineage(Lineage{QualifiedName: qn})
	default:
		return w.TableStats(TableStats{QualifiedName: qn})
	}
}

func TestWriterRowErrors(t *testing.T) {
	for _, k := range Kinds {
		t.Run(string(k), func(t *testing.T) {
			sink := &memSink{}
			defer sink.release()
			w := newTestWriter(t, sink, WriterOptions{})
			err := writeOne(w, k, "")
			require.ErrorContains(t, err, string(k)+" row without qualified_name")
			require.NoError(t, writeOne(w, k, "c/x"))
			require.Equal(t, map[Kind]int64{k: 1}, w.Counts(), "the rejected row is not counted")
			require.NoError(t, w.Close())
			require.NoError(t, w.Close(), "Close twice is fine")
			require.ErrorContains(t, writeOne(w, k, "c/y"), "write after Close")
			require.Len(t, sink.recs, 1)
			require.EqualValues(t, 1, sink.recs[0].NumRows())
		})
	}
}

func TestWriterCounts(t *testing.T) {
	s := newSample()
	sink := &memSink{}
	defer sink.release()
	w := newTestWriter(t, sink, WriterOptions{MaxRows: 2})
	s.write(t, w)
	require.Equal(t, s.counts(), w.Counts(), "counts include rows not flushed yet")
	got := w.Counts()
	got[KindTable] = 999
	require.Equal(t, s.counts(), w.Counts(), "Counts returns a copy")
	require.NoError(t, w.Close())
	rows := map[Kind]int64{}
	for i, r := range sink.recs {
		rows[sink.kinds[i]] += r.NumRows()
	}
	require.Equal(t, s.counts(), rows)
}

type failingSink struct{ err error }

func (f failingSink) WriteRecord(Kind, arrow.Record) error { return f.err }

func TestWriterSinkError(t *testing.T) {
	boom := errors.New("disk full")
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	w := newTestWriter(t, failingSink{boom}, WriterOptions{MaxRows: 1, Allocator: mem})
	err := w.Database(Database{QualifiedName: "c/d"})
	require.ErrorIs(t, err, boom)
	require.ErrorContains(t, err, "write database batch")
	require.NoError(t, w.Close())
}
