package app

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
)

type stagedFile struct {
	kind model.Kind
	seq  int
	data []byte
	rows int64
}

// writeColumns writes n column rows with incompressible comments.
func writeColumns(t *testing.T, w *model.Writer, n int) {
	t.Helper()
	for i := range n {
		b := make([]byte, 64)
		_, err := rand.Read(b)
		require.NoError(t, err)
		c := hex.EncodeToString(b)
		require.NoError(t, w.Column(model.Column{
			QualifiedName: fmt.Sprintf("c/db/s/t/col%d", i), ParentQualifiedName: "c/db/s/t",
			Database: "db", Schema: "s", Table: "t", Name: fmt.Sprintf("col%d", i), Ordinal: int32(i + 1),
			DataType: "text", Comment: &c,
		}))
	}
}

func TestStagingSinkRotatesAndEncodesAgentFiles(t *testing.T) {
	var files []stagedFile
	sink := NewStagingSink(16<<10, func(kind model.Kind, seq int, data []byte, rows int64) error {
		files = append(files, stagedFile{kind, seq, append([]byte(nil), data...), rows})
		return nil
	})
	w, err := model.NewWriter(sink, model.WriterOptions{JobID: "j1", MaxRows: 50})
	require.NoError(t, err)
	require.NoError(t, w.Database(model.Database{QualifiedName: "c/db", ParentQualifiedName: "c", Name: "db"}))
	writeColumns(t, w, 2000)
	require.NoError(t, w.Close())
	require.NoError(t, sink.Close())

	dir := t.TempDir()
	rows := map[model.Kind]int64{}
	seqs := map[model.Kind][]int{}
	for _, f := range files {
		seqs[f.kind] = append(seqs[f.kind], f.seq)
		path := filepath.Join(dir, fmt.Sprintf("%s-%d.arrows", f.kind, f.seq))
		require.NoError(t, os.WriteFile(path, f.data, 0o600))
		var got int64
		require.NoError(t, model.ReadFile(path, func(k model.Kind, rec arrow.Record) error {
			require.Equal(t, f.kind, k)
			got += rec.NumRows()
			return nil
		}))
		require.Equal(t, f.rows, got, "announced rows match the file")
		rows[f.kind] += got
	}
	require.Equal(t, map[model.Kind]int64{model.KindDatabase: 1, model.KindColumn: 2000}, rows)
	require.Equal(t, []int{0}, seqs[model.KindDatabase])
	require.Greater(t, len(seqs[model.KindColumn]), 3, "columns rotated into several files")
	for i, s := range seqs[model.KindColumn] {
		require.Equal(t, i, s)
	}
	for _, f := range files[:len(files)-2] {
		if f.kind == model.KindColumn {
			// A rotated file reached the limit with its last batch.
			require.GreaterOrEqual(t, len(f.data), 16<<10)
		}
	}
}

func TestStagingSinkAbortStagesNothing(t *testing.T) {
	staged := 0
	sink := NewStagingSink(1<<20, func(model.Kind, int, []byte, int64) error { staged++; return nil })
	w, err := model.NewWriter(sink, model.WriterOptions{JobID: "j1", MaxRows: 10})
	require.NoError(t, err)
	writeColumns(t, w, 25)
	sink.Abort()
	require.Error(t, w.Close(), "the partial batch cannot be written after Abort")
	require.Zero(t, staged)
	require.NoError(t, sink.Close(), "Close after Abort is harmless")
}

func TestStagingSinkStageFailureStops(t *testing.T) {
	boom := errors.New("object store down")
	calls := 0
	sink := NewStagingSink(1, func(model.Kind, int, []byte, int64) error { calls++; return boom })
	w, err := model.NewWriter(sink, model.WriterOptions{JobID: "j1", MaxRows: 1})
	require.NoError(t, err)
	err = w.Database(model.Database{QualifiedName: "c/db", ParentQualifiedName: "c", Name: "db"})
	require.ErrorIs(t, err, boom)
	err = w.Schema(model.Schema{QualifiedName: "c/db/s", ParentQualifiedName: "c/db", Database: "db", Name: "s"})
	require.ErrorIs(t, err, boom, "later writes fail too")
	require.ErrorIs(t, sink.Close(), boom)
	require.Equal(t, 1, calls)
}
