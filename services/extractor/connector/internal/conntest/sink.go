// Package conntest holds test helpers shared by the connector packages: an
// in-memory BatchSink, canonical JSON lines of what it received, and
// golden-file comparison.
package conntest

import (
	"sync"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/secure-agent/secure-agent/libs/model"
)

// Sink is an in-memory model.BatchSink that keeps every record it receives
// (retained, since the Writer releases records after WriteRecord). It is
// safe for concurrent use.
type Sink struct {
	mu      sync.Mutex
	records []received
}

type received struct {
	kind model.Kind
	rec  arrow.Record
}

// WriteRecord implements model.BatchSink.
func (s *Sink) WriteRecord(kind model.Kind, rec arrow.Record) error {
	rec.Retain()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = append(s.records, received{kind: kind, rec: rec})
	return nil
}

// Batches returns the row count of every batch of kind, in arrival order.
func (s *Sink) Batches(kind model.Kind) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for _, r := range s.records {
		if r.kind == kind {
			out = append(out, int(r.rec.NumRows()))
		}
	}
	return out
}

// Release releases the kept records.
func (s *Sink) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.records {
		r.rec.Release()
	}
	s.records = nil
}
