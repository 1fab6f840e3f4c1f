package model

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// errTruncated does not wrap io.EOF on purpose: the ipc reader takes any
// io.EOF for a normal end of stream.
var errTruncated = errors.New("the file ends before the Arrow end-of-stream marker: it is truncated " +
	"(was the extraction interrupted or the copy incomplete?)")

// streamMessages is an ipc.MessageReader for one stream file. Unlike
// ipc.NewMessageReader it bounds every length by the bytes left in the file,
// so a corrupt length cannot cause a huge allocation, and it tells the
// end-of-stream marker from a file cut at a message boundary, which the
// stock reader takes for a normal end (silently losing batches).
type streamMessages struct {
	r         io.Reader
	remaining int64
	mem       memory.Allocator
	refs      atomic.Int64
	msg       *ipc.Message
	sawEOS    bool
	started   bool
	// beyond, when set, is the error of reading past remaining: remaining
	// is then a limit, not the file's size (a framed stream).
	beyond error
}

func newStreamMessages(r io.Reader, size int64, mem memory.Allocator) *streamMessages {
	s := &streamMessages{r: r, remaining: size, mem: mem}
	s.refs.Store(1)
	return s
}

func (s *streamMessages) Retain() { s.refs.Add(1) }

func (s *streamMessages) Release() {
	if s.refs.Add(-1) == 0 {
		s.releaseMsg()
	}
}

func (s *streamMessages) releaseMsg() {
	if s.msg != nil {
		s.msg.Release()
		s.msg = nil
	}
}

func (s *streamMessages) readFull(buf []byte) error {
	if int64(len(buf)) > s.remaining {
		if s.beyond != nil {
			return s.beyond
		}
		return errTruncated
	}
	n, err := io.ReadFull(s.r, buf)
	s.remaining -= int64(n)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errTruncated
	}
	return err
}

// Message returns the next message; it is valid until the next call.
func (s *streamMessages) Message() (*ipc.Message, error) {
	s.releaseMsg()
	if s.sawEOS {
		return nil, io.EOF
	}
	first := !s.started
	s.started = true
	var hdr [4]byte
	if err := s.readFull(hdr[:]); err != nil {
		if first && s.remaining == 0 {
			return nil, errors.New("the file is empty, not an Arrow IPC stream")
		}
		return nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	switch {
	case n == 0xFFFFFFFF: // continuation marker, then the metadata length
		if err := s.readFull(hdr[:]); err != nil {
			return nil, err
		}
		n = binary.LittleEndian.Uint32(hdr[:])
	case n == 0: // end-of-stream marker of writers older than Arrow 0.15
	case first && bytes.Equal(hdr[:], []byte("ARRO")):
		return nil, errors.New("this is an Arrow IPC file (random-access format); the agent writes and reads the stream format")
	default:
		return nil, errors.New("not an Arrow IPC stream (no message marker where one was expected): the file is corrupt or of another type")
	}
	if n == 0 {
		s.sawEOS = true
		return nil, io.EOF
	}
	metaLen := int64(int32(n))
	if metaLen > s.remaining && s.beyond != nil {
		return nil, s.beyond
	}
	if metaLen < 0 || metaLen > s.remaining {
		return nil, fmt.Errorf("corrupt message header: metadata length %d but %d bytes left in the file", metaLen, s.remaining)
	}
	meta := memory.NewResizableBuffer(s.mem)
	defer meta.Release()
	meta.Resize(int(metaLen))
	if err := s.readFull(meta.Bytes()); err != nil {
		return nil, err
	}
	if first {
		if err := checkSchemaMessage(meta.Bytes()); err != nil {
			return nil, err
		}
	}
	bodyLen, err := messageBodyLen(meta)
	if err != nil {
		return nil, err
	}
	if bodyLen > s.remaining && s.beyond != nil {
		return nil, s.beyond
	}
	if bodyLen < 0 || bodyLen > s.remaining {
		return nil, fmt.Errorf("corrupt message: body length %d but %d bytes left in the file", bodyLen, s.remaining)
	}
	body := memory.NewResizableBuffer(s.mem)
	defer body.Release()
	body.Resize(int(bodyLen))
	if err := s.readFull(body.Bytes()); err != nil {
		return nil, err
	}
	s.msg = ipc.NewMessage(meta, body)
	return s.msg, nil
}

// messageBodyLen decodes the body length from message metadata. The
// flatbuffers decoder indexes without bounds checks, so corrupt metadata
// panics; that is bad input, reported as an error.
func messageBodyLen(meta *memory.Buffer) (n int64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("corrupt message metadata (%v)", r)
		}
	}()
	m := ipc.NewMessage(meta, memory.NewBufferBytes(nil))
	defer m.Release()
	return m.BodyLen(), nil
}

// limitAllocator bounds what the decoder allocates while reading one file,
// in total. Buffer sizes come from the file (a compressed buffer states its
// uncompressed size, and a few bytes of zstd can expand to gigabytes), and
// a corrupt or hostile file must not take the process down: the Go runtime
// cannot recover from running out of memory, whereas the ipc reader
// recovers this panic and returns it as an error.
type limitAllocator struct {
	mem  memory.Allocator
	max  int64
	used *atomic.Int64
}

func newLimitAllocator(mem memory.Allocator, limit int64) limitAllocator {
	return limitAllocator{mem: mem, max: limit, used: new(atomic.Int64)}
}

// readLimit is generous for any batch the Writer makes (it bounds batches
// to a few MiB by default) and far below what would exhaust memory.
func readLimit(fileSize int64) int64 {
	return max(256<<20, min(64*fileSize, 8<<30), fileSize)
}

func (a limitAllocator) reserve(n int64) {
	if n < 0 || a.used.Add(n) > a.max {
		a.used.Add(-n)
		panic(fmt.Errorf("the file's buffers claim more than %d bytes: the file is corrupt", a.max))
	}
}

func (a limitAllocator) Allocate(n int) []byte {
	a.reserve(int64(n))
	return a.mem.Allocate(n)
}

func (a limitAllocator) Reallocate(n int, b []byte) []byte {
	a.reserve(int64(n - len(b)))
	return a.mem.Reallocate(n, b)
}

func (a limitAllocator) Free(b []byte) {
	a.used.Add(-int64(len(b)))
	a.mem.Free(b)
}
