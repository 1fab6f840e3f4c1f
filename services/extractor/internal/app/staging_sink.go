package app

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/klauspost/compress/zstd"

	"github.com/secure-agent/secure-agent/libs/model"
)

// StageFunc receives one finished staged file: a complete framed Arrow IPC
// stream of kind (model.NewFramedEncoder), the seq-th of the run (from 0), holding rows rows. data
// is only valid during the call.
type StageFunc func(kind model.Kind, seq int, data []byte, rows int64) error

// StagingSink is a model.BatchSink that encodes each kind's batches into
// an in-memory framed Arrow IPC stream and hands the stream to stage when
// its compressed size reaches maxBytes, or at Close. At most one open
// stream per kind is held in memory; a finished one is dropped once stage
// returns.
type StagingSink struct {
	maxBytes int
	stage    StageFunc
	mem      memory.Allocator

	mu      sync.Mutex
	streams map[model.Kind]*stagingStream
	spare   []*zstd.Encoder // of finished streams, reset for the next
	next    map[model.Kind]int
	failed  error
	closed  bool
}

type stagingStream struct {
	buf  bytes.Buffer
	enc  *zstd.Encoder // the frame, into buf
	w    *ipc.Writer   // the IPC stream, into enc
	rows int64
}

// NewStagingSink returns a sink that rotates files at maxBytes of
// compressed stream.
func NewStagingSink(maxBytes int, stage StageFunc) *StagingSink {
	return &StagingSink{
		maxBytes: maxBytes, stage: stage, mem: memory.NewGoAllocator(),
		streams: map[model.Kind]*stagingStream{}, next: map[model.Kind]int{},
	}
}

// WriteRecord appends rec to kind's open stream (opening one if needed)
// and finishes the stream once it is large enough.
func (s *StagingSink) WriteRecord(kind model.Kind, rec arrow.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return errors.New("staging sink: write after close")
	case s.failed != nil:
		return fmt.Errorf("staging sink: an earlier file failed: %w", s.failed)
	case rec == nil:
		return fmt.Errorf("staging sink: nil %s record", kind)
	}
	st, ok := s.streams[kind]
	if !ok {
		var err error
		if st, err = s.open(kind); err != nil {
			s.failed = err
			return err
		}
	}
	if err := st.w.Write(rec); err != nil {
		s.failed = fmt.Errorf("encode %s batch: %w", kind, err)
		return s.failed
	}
	// Flushing ends a zstd block (the window spans blocks, so compression
	// barely changes), so the buffer's length is the stream's size so far.
	if err := st.enc.Flush(); err != nil {
		s.failed = fmt.Errorf("encode %s batch: %w", kind, err)
		return s.failed
	}
	st.rows += rec.NumRows()
	if st.buf.Len() >= s.maxBytes {
		return s.finish(kind)
	}
	return nil
}

// open starts a stream of kind, with a spare encoder if there is one.
func (s *StagingSink) open(kind model.Kind) (*stagingStream, error) {
	st := &stagingStream{}
	if n := len(s.spare); n > 0 {
		st.enc, s.spare = s.spare[n-1], s.spare[:n-1]
	} else {
		enc, err := model.NewFramedEncoder()
		if err != nil {
			return nil, err
		}
		st.enc = enc
	}
	st.enc.Reset(&st.buf)
	st.w = ipc.NewWriter(st.enc, ipc.WithSchema(model.ArrowSchema(kind)), ipc.WithAllocator(s.mem))
	s.streams[kind] = st
	return st, nil
}

// finish ends kind's open stream and stages it.
func (s *StagingSink) finish(kind model.Kind) error {
	st := s.streams[kind]
	delete(s.streams, kind)
	if err := st.w.Close(); err != nil { // writes the end-of-stream marker
		s.failed = fmt.Errorf("finish %s stream: %w", kind, err)
		return s.failed
	}
	if err := st.enc.Close(); err != nil { // ends the frame
		s.failed = fmt.Errorf("finish %s stream: %w", kind, err)
		return s.failed
	}
	s.spare = append(s.spare, st.enc)
	seq := s.next[kind]
	s.next[kind] = seq + 1
	if err := s.stage(kind, seq, st.buf.Bytes(), st.rows); err != nil {
		s.failed = err
		return err
	}
	return nil
}

// Close stages every open stream, in model.Kinds order.
func (s *StagingSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.failed
	}
	s.closed = true
	if s.failed != nil {
		s.discard()
		return s.failed
	}
	for _, k := range model.Kinds {
		if _, ok := s.streams[k]; !ok {
			continue
		}
		if err := s.finish(k); err != nil {
			s.discard()
			return err
		}
	}
	return nil
}

// Abort drops every open stream without staging it; later writes fail.
// It is a no-op after Close.
func (s *StagingSink) Abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.discard()
}

func (s *StagingSink) discard() {
	for k, st := range s.streams {
		_ = st.w.Close() // frees the writer's state; the bytes are dropped
		_ = st.enc.Close()
		delete(s.streams, k)
	}
}
