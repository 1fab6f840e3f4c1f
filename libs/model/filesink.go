package model

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/ipc"
)

// ManifestFile is written last into an output directory; its presence is
// what marks the directory's files as complete.
const ManifestFile = "manifest.json"

// FileName is the file, relative to the output directory, that holds one
// kind's batches (Arrow IPC stream format).
func FileName(k Kind) string { return string(k) + ".arrows" }

const tmpSuffix = ".tmp"

// FileInfo describes one finished file of an output directory.
type FileInfo struct {
	Kind   Kind   `json:"kind"`
	Name   string `json:"name"` // relative to the output directory
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"` // hex
	// Truncated counts the field values of the file's rows cut at the
	// text cap (TruncatedIn).
	Truncated int64 `json:"truncated,omitempty"`
}

// FileSink is a BatchSink that writes one zstd-compressed Arrow IPC stream
// per kind into a directory. Files are written as <name>.tmp and renamed by
// Close, so an interrupted run never leaves a file that looks complete. It
// is safe for concurrent use.
type FileSink struct {
	dir string
	cfg ioConfig

	mu       sync.Mutex
	streams  map[Kind]*kindFile
	failed   error // first write failure: the output is incomplete
	closed   bool
	aborted  bool
	files    []FileInfo
	closeErr error
}

type kindFile struct {
	f     *os.File
	tmp   string
	buf   *bufio.Writer
	sum   hash.Hash
	count countingWriter
	w     *ipc.Writer
	rows  int64
	cut   int64 // truncated field values
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// NewFileSink prepares dir (created 0o750 if missing) for a new extraction.
// It refuses a directory that already holds an extraction's files, so one
// run can never overwrite or mix with another's output.
func NewFileSink(dir string, opts ...IOOption) (*FileSink, error) {
	if dir == "" {
		return nil, errors.New("model: output directory is empty; pass an empty or new directory with --out")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("model: create output directory %s: %w", dir, err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("model: output directory %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("model: output %s is not a directory; pass an empty or new directory with --out", dir)
	}
	taken := []string{ManifestFile}
	for _, k := range FileKinds {
		taken = append(taken, FileName(k), FileName(k)+tmpSuffix)
	}
	for _, name := range taken {
		_, err := os.Lstat(filepath.Join(dir, name))
		if err == nil {
			return nil, fmt.Errorf("model: output directory %s already holds %s from another extraction; pick an empty --out directory", dir, name)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("model: check output directory %s: %w", dir, err)
		}
	}
	return &FileSink{dir: dir, cfg: newIOConfig(opts), streams: map[Kind]*kindFile{}}, nil
}

// Dir is the output directory.
func (s *FileSink) Dir() string { return s.dir }

// WriteRecord appends rec to kind's file, creating it on the kind's first
// record. rec's schema must be ArrowSchema(kind).
func (s *FileSink) WriteRecord(kind Kind, rec arrow.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return errors.New("model: FileSink: write after Close")
	case s.failed != nil:
		return fmt.Errorf("model: FileSink: an earlier write failed, the output is incomplete: %w", s.failed)
	case rec == nil:
		return fmt.Errorf("model: FileSink: nil %s record", kind)
	}
	if err := checkSchema(kind, rec.Schema()); err != nil {
		return fmt.Errorf("model: FileSink: %w", err)
	}
	kf, err := s.stream(kind)
	if err != nil {
		s.failed = err
		return err
	}
	if err := kf.w.Write(rec); err != nil {
		s.failed = fmt.Errorf("write %s: %w", kf.tmp, err)
		return s.failed
	}
	kf.rows += rec.NumRows()
	kf.cut += TruncatedIn(rec)
	return nil
}

func (s *FileSink) stream(kind Kind) (*kindFile, error) {
	if kf, ok := s.streams[kind]; ok {
		return kf, nil
	}
	tmp := filepath.Join(s.dir, FileName(kind)+tmpSuffix)
	// O_EXCL: a second sink on the same directory fails here instead of
	// interleaving bytes into the same file.
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, fmt.Errorf("create %s (is another extraction writing to %s? pick an empty --out directory): %w", tmp, s.dir, err)
	}
	kf := &kindFile{f: f, tmp: tmp, sum: sha256.New()}
	// Hash and count while writing so Close never re-reads the file.
	kf.buf = bufio.NewWriterSize(io.MultiWriter(f, kf.sum, &kf.count), 64<<10)
	kf.w = ipc.NewWriter(kf.buf, ipc.WithSchema(ArrowSchema(kind)), ipc.WithZstd(), ipc.WithAllocator(s.cfg.mem))
	s.streams[kind] = kf
	return kf, nil
}

// Close finishes every file and returns them in Kinds order. Calling it
// again returns the same result. If a write failed, nothing is kept: the
// temporary files are removed and the failure is returned.
func (s *FileSink) Close() ([]FileInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		if s.aborted {
			return nil, errors.New("model: FileSink: Close after Abort")
		}
		return slices.Clone(s.files), s.closeErr
	}
	s.closed = true
	if s.failed != nil {
		s.closeErr = fmt.Errorf("model: output in %s is incomplete and was discarded: %w", s.dir, errors.Join(s.failed, s.discard()))
		return nil, s.closeErr
	}
	var errs []error
	for _, k := range FileKinds {
		kf, ok := s.streams[k]
		if !ok {
			continue
		}
		info, err := kf.finish(s.dir, k)
		delete(s.streams, k)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.files = append(s.files, info)
	}
	if len(errs) == 0 {
		errs = append(errs, syncDir(s.dir))
	}
	if err := errors.Join(errs...); err != nil {
		s.files = nil
		s.closeErr = fmt.Errorf("model: finish output in %s: %w", s.dir, err)
	}
	return slices.Clone(s.files), s.closeErr
}

// Abort discards an unfinished extraction: temporary files are removed and
// nothing is renamed. It is a no-op after Close, so callers may defer it.
func (s *FileSink) Abort() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed, s.aborted = true, true
	return s.discard()
}

func (s *FileSink) discard() error {
	var errs []error
	for k, kf := range s.streams {
		_ = kf.w.Close() // frees the writer's buffers; the bytes are thrown away
		_ = kf.f.Close()
		if err := os.Remove(kf.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		delete(s.streams, k)
	}
	return errors.Join(errs...)
}

func (kf *kindFile) finish(dir string, k Kind) (FileInfo, error) {
	err := kf.w.Close() // writes the end-of-stream marker
	if err == nil {
		err = kf.buf.Flush()
	}
	if err == nil {
		err = kf.f.Sync()
	}
	if cerr := kf.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(kf.tmp, filepath.Join(dir, FileName(k)))
	}
	if err != nil {
		_ = os.Remove(kf.tmp)
		return FileInfo{}, fmt.Errorf("%s: %w", FileName(k), err)
	}
	return FileInfo{Kind: k, Name: FileName(k), Rows: kf.rows, Bytes: kf.count.n, SHA256: hex.EncodeToString(kf.sum.Sum(nil)),
		Truncated: kf.cut}, nil
}

// syncDir makes renames in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkSchema reports how sch differs from kind's schema, if it does.
func checkSchema(kind Kind, sch *arrow.Schema) error {
	want := ArrowSchema(kind)
	if want == nil {
		return fmt.Errorf("unknown asset kind %q; kinds are %v", kind, FileKinds)
	}
	if diff := schemaDiff(sch, want); diff != "" {
		return fmt.Errorf("%s schema differs from this agent's schema version %s (%s); records must be built by model.Writer", kind, SchemaVersion, diff)
	}
	return nil
}

func schemaDiff(got, want *arrow.Schema) string {
	if got == nil {
		return "no schema"
	}
	if got.NumFields() != want.NumFields() {
		return fmt.Sprintf("%d fields, want %d", got.NumFields(), want.NumFields())
	}
	for i, g := range got.Fields() {
		w := want.Field(i)
		if !g.Equal(w) {
			return fmt.Sprintf("field %d is %s, want %s", i, describeField(g), describeField(w))
		}
	}
	if !got.Metadata().Equal(want.Metadata()) {
		return fmt.Sprintf("metadata %v, want %v", got.Metadata().ToMap(), want.Metadata().ToMap())
	}
	if got.Endianness() != want.Endianness() {
		return "byte order differs"
	}
	return ""
}

func describeField(f arrow.Field) string {
	null := " not null"
	if f.Nullable {
		null = ""
	}
	return fmt.Sprintf("%q %s%s", f.Name, f.Type, null)
}
