package model

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/ipc"
)

// Schema metadata keys stamped into every kind's schema.
const (
	MetaKind          = "secure_agent.kind"
	MetaSchemaVersion = "secure_agent.schema_version"
)

// ReadFile reads one stream file written by FileSink and calls fn for each
// record batch; the record is released when fn returns (Retain it to keep
// it). The kind comes from the schema metadata, and the schema must be this
// agent's schema of that kind. A corrupt, truncated or foreign file is an
// error naming the file.
func ReadFile(path string, fn func(kind Kind, rec arrow.Record) error, opts ...IOOption) error {
	if _, err := readFile(path, newIOConfig(opts), fn); err != nil {
		return fmt.Errorf("model: read %s: %w", path, err)
	}
	return nil
}

func readFile(path string, cfg ioConfig, fn func(Kind, arrow.Record) error) (Kind, error) {
	// Stat before opening: opening a FIFO would block.
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", errors.New("not a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err = f.Stat()
	if err != nil {
		return "", err
	}
	return readStream(bufio.NewReaderSize(f, 64<<10), st.Size(), cfg, fn)
}

// readStream reads exactly size bytes of one Arrow IPC stream from r.
func readStream(r io.Reader, size int64, cfg ioConfig, fn func(Kind, arrow.Record) error) (Kind, error) {
	limit := cfg.readLimit
	if limit == 0 {
		limit = readLimit(size)
	}
	mem := newLimitAllocator(cfg.mem, limit)
	// A framed stream's IPC bytes are bounded by the same limit as what
	// its decoder may allocate: a few bytes of zstd can expand to
	// gigabytes.
	src, err := unframe(r, size, limit)
	if err != nil {
		return "", err
	}
	defer src.close()
	msgs := newStreamMessages(src.r, src.size, mem)
	msgs.beyond = src.beyond
	rdr, err := ipc.NewReaderFromMessageReader(msgs, ipc.WithAllocator(mem))
	if err != nil {
		msgs.Release()
		return "", fmt.Errorf("not a readable Arrow IPC stream: %w", err)
	}
	defer rdr.Release()
	sch := rdr.Schema()
	kind, err := kindOf(sch)
	if err != nil {
		return "", err
	}
	batch := 0
	for rdr.Next() {
		batch++
		rec := rdr.Record()
		if err := validateRecord(rec, sch); err != nil {
			return kind, fmt.Errorf("%s batch %d is corrupt: %w", kind, batch, err)
		}
		if err := fn(kind, rec); err != nil {
			return kind, err
		}
	}
	if err := rdr.Err(); err != nil {
		return kind, fmt.Errorf("%s batch %d is corrupt: %w", kind, batch+1, err)
	}
	if !msgs.sawEOS {
		return kind, errTruncated
	}
	return kind, src.end(msgs.remaining)
}

// kindOf finds a stream's kind and checks its schema is this agent's.
func kindOf(sch *arrow.Schema) (Kind, error) {
	if sch == nil {
		return "", errors.New("the stream has no schema")
	}
	v, ok := sch.Metadata().GetValue(MetaKind)
	if !ok {
		return "", fmt.Errorf("the schema has no %s metadata: not a file written by the agent", MetaKind)
	}
	kind, err := ParseKind(v)
	if err != nil {
		return "", err
	}
	if ver, _ := sch.Metadata().GetValue(MetaSchemaVersion); ver != SchemaVersion {
		return "", fmt.Errorf("the %s schema is version %q but this agent reads version %s: read it with the agent version that wrote it", kind, ver, SchemaVersion)
	}
	if err := checkSchema(kind, sch); err != nil {
		return "", err
	}
	return kind, nil
}
