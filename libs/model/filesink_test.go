package model

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/stretchr/testify/require"
)

// extract writes s through a Writer into a FileSink in dir and writes the
// manifest, as the extractor does.
func extract(t *testing.T, dir string, s sample, mem memory.Allocator) Manifest {
	t.Helper()
	sink, err := NewFileSink(dir, WithAllocator(mem))
	require.NoError(t, err)
	w := newTestWriter(t, sink, WriterOptions{MaxRows: 2, Allocator: mem})
	s.write(t, w)
	require.NoError(t, w.Close())
	files, err := sink.Close()
	require.NoError(t, err)
	m := Manifest{
		JobID:     "job-1",
		Source:    ManifestSource{Kind: "postgres", Connection: "default/postgres/1700000000", Databases: []string{"shop"}, Filters: map[string]any{"include_schemas": []string{"sales"}}},
		StartedAt: sampleTime, FinishedAt: sampleTime.Add(time.Second),
		Files: files, Rows: w.Counts(), Queries: 9,
	}
	require.NoError(t, WriteManifest(dir, m))
	return m
}

func readDir(t *testing.T, dir string, m Manifest, mem memory.Allocator) decoded {
	t.Helper()
	var d decoded
	for _, f := range m.Files {
		err := ReadFile(filepath.Join(dir, f.Name), func(k Kind, rec arrow.Record) error {
			require.Equal(t, f.Kind, k)
			decodeRecord(&d, k, rec)
			return nil
		}, WithAllocator(mem))
		require.NoError(t, err)
	}
	return d
}

func TestFileSinkRoundTrip(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0) // nothing leaks through Writer → FileSink → ReadFile

	dir := filepath.Join(t.TempDir(), "out")
	s := newSample()
	m := extract(t, dir, s, mem)

	st, err := os.Stat(dir)
	require.NoError(t, err)
	require.Zero(t, st.Mode().Perm()&^0o750, "created 0o750")

	var kinds []Kind
	for _, f := range m.Files {
		kinds = append(kinds, f.Kind)
		require.Equal(t, FileName(f.Kind), f.Name)
		require.Equal(t, s.counts()[f.Kind], f.Rows)
		data, err := os.ReadFile(filepath.Join(dir, f.Name))
		require.NoError(t, err)
		require.EqualValues(t, len(data), f.Bytes)
		sum := sha256.Sum256(data)
		require.Equal(t, hex.EncodeToString(sum[:]), f.SHA256)
		fst, err := os.Stat(filepath.Join(dir, f.Name))
		require.NoError(t, err)
		require.Zero(t, fst.Mode().Perm()&^0o640)
	}
	require.Equal(t, Kinds, kinds, "files in Kinds order")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		require.False(t, strings.HasSuffix(e.Name(), tmpSuffix), "no temporary file left: %s", e.Name())
	}

	mst, err := os.Stat(filepath.Join(dir, ManifestFile))
	require.NoError(t, err)
	require.Zero(t, mst.Mode().Perm()&^0o640)
	got, err := ReadManifest(dir)
	require.NoError(t, err)
	require.Equal(t, ManifestVersion, got.Version)
	require.Equal(t, m.Files, got.Files)
	require.Equal(t, m.Rows, got.Rows)
	require.True(t, m.StartedAt.Equal(got.StartedAt))
	require.NoError(t, VerifyDir(dir))

	d := readDir(t, dir, m, mem)
	require.Equal(t, s.normalized(), d.sample, "every row reads back as written")
	require.Equal(t, map[string]bool{"job-1": true}, d.jobIDs)
	require.Equal(t, map[time.Time]bool{sampleTime.Truncate(time.Microsecond): true}, d.times)
}

func TestFileSinkWritesTempFilesUntilClose(t *testing.T) {
	dir := t.TempDir()
	sink, err := NewFileSink(dir)
	require.NoError(t, err)
	w := newTestWriter(t, sink, WriterOptions{})
	require.NoError(t, w.Database(Database{QualifiedName: "c/d", Name: "d"}))
	require.NoError(t, w.Flush())
	_, err = os.Stat(filepath.Join(dir, "database.arrows.tmp"))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(dir, "database.arrows"))
	require.ErrorIs(t, err, os.ErrNotExist, "a file looks complete only after Close")

	files, err := sink.Close()
	require.NoError(t, err)
	require.Len(t, files, 1)
	again, err := sink.Close()
	require.NoError(t, err, "Close twice is safe")
	require.Equal(t, files, again)

	require.NoError(t, w.Database(Database{QualifiedName: "c/e", Name: "e"}))
	err = w.Flush()
	require.ErrorContains(t, err, "write after Close")
	require.NoError(t, sink.Abort(), "Abort after Close is a no-op")
	_, err = os.Stat(filepath.Join(dir, "database.arrows"))
	require.NoError(t, err)
}

// TestFileSinkConcurrentWriters runs one Writer per goroutine into one
// sink, as a connector extracting databases in parallel would (run -race).
func TestFileSinkConcurrentWriters(t *testing.T) {
	dir := t.TempDir()
	sink, err := NewFileSink(dir)
	require.NoError(t, err)
	const perWriter = 500
	errs := make(chan error, 2)
	for g := 0; g < 2; g++ {
		go func() {
			w, err := NewWriter(sink, WriterOptions{JobID: "job-1", MaxRows: 7})
			if err == nil {
				for i := 0; i < perWriter && err == nil; i++ {
					err = w.Column(Column{QualifiedName: fmt.Sprintf("c/d/s/t%d/c%d", g, i), Name: "c"})
				}
			}
			if err == nil {
				err = w.Close()
			}
			errs <- err
		}()
	}
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
	files, err := sink.Close()
	require.NoError(t, err)
	require.Len(t, files, 1)
	require.EqualValues(t, 2*perWriter, files[0].Rows)
	n, err := countRows(filepath.Join(dir, files[0].Name))
	require.NoError(t, err)
	require.EqualValues(t, 2*perWriter, n)
}

func TestFileSinkAbortRemovesTempFiles(t *testing.T) {
	dir := t.TempDir()
	sink, err := NewFileSink(dir)
	require.NoError(t, err)
	w := newTestWriter(t, sink, WriterOptions{})
	require.NoError(t, w.Schema(Schema{QualifiedName: "c/d/s"}))
	require.NoError(t, w.Close())
	require.NoError(t, sink.Abort())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries)
	_, err = sink.Close()
	require.ErrorContains(t, err, "Abort")
}

func TestNewFileSinkRefusesUsedDirectory(t *testing.T) {
	used := t.TempDir()
	extract(t, used, newSample(), memory.NewGoAllocator())
	_, err := NewFileSink(used)
	require.ErrorContains(t, err, "already holds manifest.json")
	require.ErrorContains(t, err, "pick an empty --out directory")

	interrupted := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(interrupted, "column.arrows.tmp"), []byte("x"), 0o600))
	_, err = NewFileSink(interrupted)
	require.ErrorContains(t, err, "column.arrows.tmp")

	file := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, err = NewFileSink(file)
	require.Error(t, err)

	_, err = NewFileSink("")
	require.ErrorContains(t, err, "--out")
}

func TestFileSinkRefusesForeignSchema(t *testing.T) {
	sink, err := NewFileSink(t.TempDir())
	require.NoError(t, err)
	defer sink.Abort()

	b := array.NewRecordBuilder(memory.NewGoAllocator(), ArrowSchema(KindDatabase))
	defer b.Release()
	rec := b.NewRecord()
	defer rec.Release()

	err = sink.WriteRecord(KindSchema, rec)
	require.ErrorContains(t, err, "schema schema differs")
	err = sink.WriteRecord("tables", rec)
	require.ErrorContains(t, err, `unknown asset kind "tables"`)

	other := arrow.NewSchema(ArrowSchema(KindDatabase).Fields(), nil)
	rec2 := array.NewRecord(other, rec.Columns(), 0)
	defer rec2.Release()
	err = sink.WriteRecord(KindDatabase, rec2)
	require.ErrorContains(t, err, "metadata")

	require.NoError(t, sink.WriteRecord(KindDatabase, rec), "refused records do not poison the sink")
}

func TestVerifyDirReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	extract(t, dir, newSample(), memory.NewGoAllocator())

	tamper(t, filepath.Join(dir, "table.arrows"), 100)
	require.NoError(t, os.Remove(filepath.Join(dir, "column.arrows")))
	require.NoError(t, os.Truncate(filepath.Join(dir, "index.arrows"), 10))

	err := VerifyDir(dir)
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, "table.arrows: sha256 is ")
	require.Contains(t, msg, "column.arrows: missing")
	require.Contains(t, msg, "index.arrows: size is 10 bytes")
	require.NotContains(t, msg, "schema.arrows")
	require.Contains(t, msg, "re-run the extraction")

	_, err = ExportEntityJSONL(dir, &strings.Builder{})
	require.ErrorContains(t, err, "table.arrows", "export refuses a tampered directory before writing anything")
}

func TestVerifyDirManifestProblems(t *testing.T) {
	_, err := ReadManifest(t.TempDir())
	require.ErrorContains(t, err, "has no manifest.json")

	dir := t.TempDir()
	m := extract(t, dir, newSample(), memory.NewGoAllocator())

	bad := m
	bad.Rows = map[Kind]int64{KindTable: 1}
	require.ErrorContains(t, WriteManifest(t.TempDir(), bad), "inconsistent manifest")

	bad = m
	bad.Files = append([]FileInfo{{Kind: KindTable, Name: "../../etc/passwd"}}, m.Files[1:]...)
	bad.Rows = nil
	require.ErrorContains(t, WriteManifest(t.TempDir(), bad), `"../../etc/passwd" must be a relative path inside the directory`)

	// A manifest edited by hand is checked on read.
	path := filepath.Join(dir, ManifestFile)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(data), `"name": "table.arrows"`, `"name": "/etc/passwd"`, 1)), 0o640))
	require.ErrorContains(t, VerifyDir(dir), `"/etc/passwd" must be a relative path inside the directory`)

	dup := strings.Replace(string(data), `"name": "column.arrows"`, `"name": "table.arrows"`, 1)
	require.NoError(t, os.WriteFile(path, []byte(dup), 0o640))
	require.ErrorContains(t, VerifyDir(dir), `file "table.arrows" is listed twice`)

	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(data), `"version": 1`, `"version": 7`, 1)), 0o640))
	require.ErrorContains(t, VerifyDir(dir), "format version 7")

	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(data), `"table": 7`, `"table": 8`, 1)), 0o640))
	require.ErrorContains(t, VerifyDir(dir), "table: the files have 7 rows but the total is 8")
}

func tamper(t *testing.T, path string, at int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, at)
	require.NoError(t, err)
	b[0] ^= 0x5a
	_, err = f.WriteAt(b, at)
	require.NoError(t, err)
}
