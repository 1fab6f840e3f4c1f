package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/ipc"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// uploadWriter compacts one kind's record batches of a partition into
// upload files (zstd Arrow IPC streams). It holds one file in memory and
// hands it to upload as soon as its compressed size reaches target, so
// files are named deterministically: the same run always yields the same
// files under the same names.
type uploadWriter struct {
	kind      model.Kind
	partition string
	target    int64
	upload    func(info model.FileInfo, data []byte) error

	n     int // next file number
	buf   bytes.Buffer
	w     *ipc.Writer
	rows  int64 // of the open file
	cut   int64 // truncated values of the open file
	total int64 // of every file
}

func newUploadWriter(partition string, kind model.Kind, target int64, upload func(model.FileInfo, []byte) error) *uploadWriter {
	return &uploadWriter{kind: kind, partition: partition, target: target, upload: upload}
}

// Write appends rec, which must have the kind's schema. Empty batches are
// skipped, so no upload file is ever empty.
func (u *uploadWriter) Write(rec arrow.Record) error {
	if rec.NumRows() == 0 {
		return nil
	}
	if u.w == nil {
		u.buf.Reset()
		u.w = ipc.NewWriter(&u.buf, ipc.WithSchema(model.ArrowSchema(u.kind)), ipc.WithZstd())
	}
	if err := u.w.Write(rec); err != nil {
		return fmt.Errorf("compact %s rows into %s: %w", u.kind, u.name(), err)
	}
	u.rows += rec.NumRows()
	u.cut += model.TruncatedIn(rec)
	u.total += rec.NumRows()
	if int64(u.buf.Len()) >= u.target {
		return u.finish()
	}
	return nil
}

// Close finishes the open file, if any.
func (u *uploadWriter) Close() error { return u.finish() }

// Discard drops the open file without uploading it.
func (u *uploadWriter) Discard() {
	if u.w != nil {
		_ = u.w.Close()
		u.w = nil
	}
	u.buf = bytes.Buffer{}
}

func (u *uploadWriter) name() string { return job.UploadName(u.partition, u.kind, u.n) }

func (u *uploadWriter) finish() error {
	if u.w == nil {
		return nil
	}
	err := u.w.Close() // the end-of-stream marker
	u.w = nil
	if err != nil {
		return fmt.Errorf("finish upload file %s: %w", u.name(), err)
	}
	data := u.buf.Bytes()
	sum := sha256.Sum256(data)
	info := model.FileInfo{Kind: u.kind, Name: u.name(), Rows: u.rows, Bytes: int64(len(data)), SHA256: hex.EncodeToString(sum[:]),
		Truncated: u.cut}
	u.n++
	u.rows, u.cut = 0, 0
	return u.upload(info, data)
}
