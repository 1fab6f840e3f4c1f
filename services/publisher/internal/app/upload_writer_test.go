package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// recordSink keeps the batches a model.Writer produces.
type recordSink struct{ recs []arrow.Record }

func (s *recordSink) WriteRecord(_ model.Kind, rec arrow.Record) error {
	rec.Retain()
	s.recs = append(s.recs, rec)
	return nil
}

// columnBatches builds n column rows in batches of 50.
func columnBatches(t *testing.T, n int) []arrow.Record {
	t.Helper()
	sink := &recordSink{}
	w, err := model.NewWriter(sink, model.WriterOptions{JobID: "j", MaxRows: 50})
	require.NoError(t, err)
	names := model.Names{Connection: "c", Database: "d", Schema: "s", Table: "t"}
	for i := range n {
		col := fmt.Sprintf("col_%05d", i)
		require.NoError(t, w.Column(model.Column{QualifiedName: names.ChildQN(col), ParentQualifiedName: names.TableQN(),
			Database: "d", Schema: "s", Table: "t", Name: col, Ordinal: int32(i), DataType: "text"}))
	}
	require.NoError(t, w.Close())
	t.Cleanup(func() {
		for _, r := range sink.recs {
			r.Release()
		}
	})
	return sink.recs
}

type uploaded struct {
	info model.FileInfo
	data []byte
}

func compactAll(t *testing.T, recs []arrow.Record, target int64) []uploaded {
	t.Helper()
	var out []uploaded
	u := newUploadWriter("p003", model.KindColumn, target, func(info model.FileInfo, data []byte) error {
		out = append(out, uploaded{info, bytes.Clone(data)})
		return nil
	})
	for _, r := range recs {
		require.NoError(t, u.Write(r))
	}
	require.NoError(t, u.Close())
	require.NoError(t, u.Close(), "a second Close writes nothing")
	return out
}

func TestUploadWriterRotatesAtTarget(t *testing.T) {
	recs := columnBatches(t, 1000)
	files := compactAll(t, recs, 2048)
	require.Greater(t, len(files), 2)

	var rows int64
	for n, f := range files {
		require.Equal(t, job.UploadName("p003", model.KindColumn, n), f.info.Name)
		sum := sha256.Sum256(f.data)
		require.Equal(t, hex.EncodeToString(sum[:]), f.info.SHA256)
		require.EqualValues(t, len(f.data), f.info.Bytes)
		if n < len(files)-1 {
			require.GreaterOrEqual(t, f.info.Bytes, int64(2048), "only the last file may be under the target")
		}
		var got int64
		kind, err := model.ReadStream(bytes.NewReader(f.data), int64(len(f.data)), func(_ model.Kind, rec arrow.Record) error {
			got += rec.NumRows()
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, model.KindColumn, kind)
		require.Equal(t, f.info.Rows, got)
		rows += got
	}
	require.EqualValues(t, 1000, rows)

	again := compactAll(t, recs, 2048)
	require.Equal(t, files, again, "the same batches give the same files: a restart rewrites the same objects")

	one := compactAll(t, recs, DefaultCompactTargetBytes)
	require.Len(t, one, 1)
	require.EqualValues(t, 1000, one[0].info.Rows)
}

func TestUploadWriterWritesNoEmptyFile(t *testing.T) {
	require.Empty(t, compactAll(t, nil, 1024))

	empty := array.NewRecord(model.ArrowSchema(model.KindColumn), emptyColumns(model.KindColumn), 0)
	defer empty.Release()
	require.Empty(t, compactAll(t, []arrow.Record{empty}, 1024))
}

func emptyColumns(k model.Kind) []arrow.Array {
	b := array.NewRecordBuilder(memory.NewGoAllocator(), model.ArrowSchema(k))
	defer b.Release()
	rec := b.NewRecord()
	defer rec.Release()
	cols := make([]arrow.Array, rec.NumCols())
	for i, c := range rec.Columns() {
		c.Retain()
		cols[i] = c
	}
	return cols
}

func TestUploadWriterStopsOnUploadError(t *testing.T) {
	recs := columnBatches(t, 200)
	calls := 0
	u := newUploadWriter("p000", model.KindColumn, 1, func(model.FileInfo, []byte) error {
		calls++
		return errStopped
	})
	require.ErrorIs(t, u.Write(recs[0]), errStopped)
	require.Equal(t, 1, calls)
	u.Discard()
}

func TestUploadWriterCountsTruncatedValues(t *testing.T) {
	sink := &recordSink{}
	w, err := model.NewWriter(sink, model.WriterOptions{JobID: "j", MaxRows: 50, MaxTextBytes: 16})
	require.NoError(t, err)
	names := model.Names{Connection: "c", Database: "d", Schema: "s", Table: "t"}
	for i := range 300 {
		col := fmt.Sprintf("col_%05d", i)
		c := model.Column{QualifiedName: names.ChildQN(col), ParentQualifiedName: names.TableQN(),
			Database: "d", Schema: "s", Table: "t", Name: col, Ordinal: int32(i), DataType: "text"}
		if i%10 == 0 {
			c.Comment = model.Ptr(fmt.Sprintf("%0100d", i)) // over the cap: cut and counted
		}
		require.NoError(t, w.Column(c))
	}
	require.NoError(t, w.Close())
	defer func() {
		for _, r := range sink.recs {
			r.Release()
		}
	}()
	files := compactAll(t, sink.recs, 2048)
	require.Greater(t, len(files), 1)
	var total int64
	for _, f := range files {
		var inFile int64
		_, err := model.ReadStream(bytes.NewReader(f.data), int64(len(f.data)), func(_ model.Kind, rec arrow.Record) error {
			inFile += model.TruncatedIn(rec)
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, inFile, f.info.Truncated, f.info.Name)
		total += f.info.Truncated
	}
	require.EqualValues(t, 30, total, "every cut comment is counted once")
}
