package model

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/stretchr/testify/require"
)

// sampleDir extracts the sample and returns the directory.
func sampleDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	sink, err := NewFileSink(dir)
	require.NoError(t, err)
	w, err := NewWriter(sink, WriterOptions{JobID: "job-1", ExtractedAt: sampleTime, MaxRows: 2})
	require.NoError(t, err)
	newSample().write(t, w)
	require.NoError(t, w.Close())
	files, err := sink.Close()
	require.NoError(t, err)
	require.NoError(t, WriteManifest(dir, Manifest{JobID: "job-1", Files: files}))
	return dir
}

func countRows(path string, opts ...IOOption) (int64, error) {
	var n int64
	err := ReadFile(path, func(k Kind, rec arrow.Record) error {
		c := newColumns(rec)
		for i := 0; i < int(rec.NumRows()); i++ {
			_ = entityOf(k, c, i) // touch every value
		}
		n += rec.NumRows()
		return nil
	}, opts...)
	return n, err
}

func TestReadFileTruncated(t *testing.T) {
	dir := sampleDir(t)
	src := filepath.Join(dir, "table.arrows")
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	rows, err := countRows(src)
	require.NoError(t, err)
	require.EqualValues(t, 7, rows)

	for _, cut := range []int{len(data) - 8, len(data) - 4, len(data) - 1, len(data) / 2, 300, 9, 3} {
		path := filepath.Join(t.TempDir(), "table.arrows")
		require.NoError(t, os.WriteFile(path, data[:cut], 0o600))
		_, err := countRows(path)
		require.Error(t, err, "cut at %d of %d", cut, len(data))
		require.ErrorContains(t, err, path)
		if cut >= len(data)-8 {
			require.ErrorContains(t, err, "truncated", "a cut at a message boundary must not read as a shorter, valid file")
		}
	}
}

func TestReadFileRejects(t *testing.T) {
	dir := sampleDir(t)
	good, err := os.ReadFile(filepath.Join(dir, "schema.arrows"))
	require.NoError(t, err)

	arrowFile, err := os.Create(filepath.Join(t.TempDir(), "file.arrow"))
	require.NoError(t, err)
	fw, err := ipc.NewFileWriter(arrowFile, ipc.WithSchema(ArrowSchema(KindSchema)))
	require.NoError(t, err)
	require.NoError(t, fw.Close())
	require.NoError(t, arrowFile.Close())
	arrowFileData, err := os.ReadFile(arrowFile.Name())
	require.NoError(t, err)

	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty"},
		{"json", []byte(`{"typeName":"Table"}`), "not an Arrow IPC stream"},
		{"arrow file format", arrowFileData, "random-access"},
		{"trailing bytes", append(bytes.Clone(good), 1, 2, 3), "3 bytes follow the end-of-stream marker"},
		{"foreign schema", stream(t, arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)), "no secure_agent.kind metadata"},
		{"unknown kind", stream(t, withMeta(ArrowSchema(KindSchema), "view", SchemaVersion)), `unknown asset kind "view"`},
		{"other schema version", stream(t, withMeta(ArrowSchema(KindSchema), "schema", "1")), `version "1" but this agent reads version 2`},
		{"same metadata, other fields", stream(t, withMeta(ArrowSchema(KindDatabase), "schema", SchemaVersion)), "schema schema differs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.arrows")
			require.NoError(t, os.WriteFile(path, tc.data, 0o600))
			_, err := countRows(path)
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, path)
		})
	}

	_, err = countRows(filepath.Join(dir, "nope.arrows"))
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = countRows(dir)
	require.ErrorContains(t, err, "not a regular file")
}

func TestReadFileFnError(t *testing.T) {
	dir := sampleDir(t)
	stop := errors.New("stop")
	calls := 0
	err := ReadFile(filepath.Join(dir, "table.arrows"), func(Kind, arrow.Record) error {
		calls++
		return stop
	})
	require.ErrorIs(t, err, stop)
	require.Equal(t, 1, calls)
}

// TestReadFileCorruptBytes flips bytes all over files: reading must end in
// an error or (when a flip hits data) in valid records, never in a panic
// or a fatal allocation. Every byte of the schema message is flipped (its
// lengths are what Arrow trusts most), then a spread over the batches.
// (Leaks are not checked: Arrow drops buffers when it recovers from a
// decode failure, which the Go allocator's GC reclaims.)
func TestReadFileCorruptBytes(t *testing.T) {
	dir := sampleDir(t)
	for _, name := range []string{"constraint.arrows", "table_stats.arrows"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		schemaEnd := 8 + int(binary.LittleEndian.Uint32(data[4:]))
		path := filepath.Join(t.TempDir(), name)
		rng := rand.New(rand.NewPCG(1, 2))
		failures := 0
		for i := 0; i < len(data); i++ {
			if i > schemaEnd {
				i += rng.IntN(40)
				if i >= len(data) {
					break
				}
			}
			bad := bytes.Clone(data)
			bad[i] ^= byte(1 + rng.IntN(255))
			require.NoError(t, os.WriteFile(path, bad, 0o600))
			if _, err := countRows(path); err != nil {
				require.ErrorContains(t, err, path)
				failures++
			}
		}
		require.Positive(t, failures, "%s: flipped bytes must be detected", name)
	}
}

func FuzzReadStream(f *testing.F) {
	dir := sampleDir(f)
	for _, k := range []Kind{KindDatabase, KindConstraint, KindTableStats} {
		data, err := os.ReadFile(filepath.Join(dir, FileName(k)))
		require.NoError(f, err)
		f.Add(data)
	}
	// Any input must end in an error or valid records: no panic, hang or
	// fatal allocation. (Leaks are not checked, see TestReadFileCorruptBytes.)
	// A small read limit keeps decompression bombs quick.
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := ioConfig{mem: memory.NewGoAllocator(), readLimit: 4 << 20}
		_, _ = readStream(bytes.NewReader(data), int64(len(data)), cfg, func(k Kind, rec arrow.Record) error {
			c := newColumns(rec)
			n := int(rec.NumRows())
			for i := 0; i < n; i++ {
				if i == 100 && n > 200 {
					i = n - 100 // the first and last rows are enough to hit bad offsets
				}
				_ = entityOf(k, c, i)
			}
			return nil
		})
	})
}

func withMeta(s *arrow.Schema, kind, version string) *arrow.Schema {
	md := arrow.NewMetadata([]string{MetaKind, MetaSchemaVersion}, []string{kind, version})
	return arrow.NewSchema(s.Fields(), &md)
}

// stream is a valid Arrow IPC stream of sch with one empty batch.
func stream(t *testing.T, sch *arrow.Schema) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(sch))
	b := array.NewRecordBuilder(memory.NewGoAllocator(), sch)
	defer b.Release()
	rec := b.NewRecord()
	defer rec.Release()
	require.NoError(t, w.Write(rec))
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func TestReadLimit(t *testing.T) {
	dir := sampleDir(t)
	data, err := os.ReadFile(filepath.Join(dir, "table.arrows"))
	require.NoError(t, err)
	cfg := ioConfig{mem: memory.NewGoAllocator(), readLimit: 512}
	_, err = readStream(bytes.NewReader(data), int64(len(data)), cfg, func(Kind, arrow.Record) error { return nil })
	require.ErrorContains(t, err, "the file is corrupt", "buffers beyond the read limit are refused before they are allocated")

	require.EqualValues(t, 256<<20, readLimit(1000))
	require.EqualValues(t, 64*(100<<20), readLimit(100<<20))
	require.EqualValues(t, 8<<30, readLimit(1<<30))
	require.EqualValues(t, 20<<30, readLimit(20<<30))
}
