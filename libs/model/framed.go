package model

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/klauspost/compress/zstd"
)

// A framed stream is an Arrow IPC stream without body compression inside
// one zstd frame: how the extractor stages its files for the publisher.
// Arrow's own body compression (what FileSink and the upload files use,
// the format other tools read) starts a new zstd decoder, with buffers of
// its window, for every buffer of every record batch it reads, and that
// was much of the publisher's CPU; a framed stream is decompressed by one
// small decoder as it streams. ReadStream and ReadFile read both forms.

// FramedWindow is the zstd window a framed stream is written with: what
// its reader holds besides one record batch.
const FramedWindow = 512 << 10

// maxFramedWindow is the largest window a framed stream may declare: a
// larger one is refused rather than allocated.
const maxFramedWindow = 8 << 20

// zstdMagic starts a zstd frame; an Arrow IPC stream starts with a
// continuation marker (0xFFFFFFFF) or a message length.
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// IsFramed tells whether data starts with a zstd frame (a framed stream,
// a catalog-state chunk) rather than an Arrow IPC message.
func IsFramed(data []byte) bool { return bytes.HasPrefix(data, zstdMagic) }

// NewFramedEncoder returns the zstd encoder of framed streams; Reset it
// onto each stream's destination, write the IPC stream (an ipc.Writer
// without compression) and Close it to end the frame. One encoder, reset
// between streams, keeps its buffers.
func NewFramedEncoder() (*zstd.Encoder, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithWindowSize(FramedWindow), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("model: framed stream encoder: %w", err)
	}
	return enc, nil
}

// unframed is the IPC stream read from a file of size bytes: the file
// itself, or, when it starts with a zstd frame, its decompression, with
// at most limit bytes to read.
type unframed struct {
	r     io.Reader
	size  int64 // bytes of IPC stream there are (plain) or may be (framed)
	zr    *zstd.Decoder
	input *io.LimitedReader // the frame's bytes (framed)
	// beyond is the error of a framed stream longer than the limit.
	beyond error
}

func unframe(r io.Reader, size, limit int64) (*unframed, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(len(zstdMagic))
	if size < int64(len(zstdMagic)) || !bytes.Equal(head, zstdMagic) {
		return &unframed{r: br, size: size}, nil
	}
	in := &io.LimitedReader{R: br, N: size}
	zr, err := zstd.NewReader(in, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(maxFramedWindow))
	if err != nil {
		return nil, fmt.Errorf("not a readable zstd frame: %w", err)
	}
	return &unframed{r: zr, size: limit, zr: zr, input: in,
		beyond: fmt.Errorf("the Arrow stream in the zstd frame is larger than %d bytes, the limit for a file of %d bytes: the file is corrupt", limit, size)}, nil
}

// end checks nothing follows the stream's end-of-stream marker: no bytes
// (plain), or no data and an intact checksum to the end of the file
// (framed).
func (u *unframed) end(remaining int64) error {
	if u.zr == nil {
		if remaining > 0 {
			return fmt.Errorf("%d bytes follow the end-of-stream marker: the file was altered or appended to", remaining)
		}
		return nil
	}
	var b [1]byte
	switch n, err := io.ReadFull(u.zr, b[:]); {
	case n > 0:
		return errors.New("data follows the end-of-stream marker in the zstd frame: the file was altered or appended to")
	case errors.Is(err, io.EOF):
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errTruncated
	default:
		return fmt.Errorf("the zstd frame is corrupt, or other bytes follow it: %w", err)
	}
	if u.input.N > 0 {
		return fmt.Errorf("%d bytes follow the zstd frame: the file was altered or appended to", u.input.N)
	}
	return nil
}

func (u *unframed) close() {
	if u.zr != nil {
		u.zr.Close()
	}
}

// Frame rewrites an Arrow IPC stream (with or without body compression)
// as a framed stream, record batch by record batch.
func Frame(data []byte) ([]byte, error) {
	r, err := ipc.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("model: frame: not a readable Arrow IPC stream: %w", err)
	}
	defer r.Release()
	enc, err := NewFramedEncoder()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	enc.Reset(&out)
	w := ipc.NewWriter(enc, ipc.WithSchema(r.Schema()))
	for r.Next() {
		if err := w.Write(r.Record()); err != nil {
			return nil, fmt.Errorf("model: frame: %w", err)
		}
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("model: frame: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("model: frame: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("model: frame: %w", err)
	}
	return out.Bytes(), nil
}
