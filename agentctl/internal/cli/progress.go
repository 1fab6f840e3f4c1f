package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/secure-agent/secure-agent/libs/model"
)

// progress holds the latest row counts for the progress reporter. The
// Writer is single-goroutine, so counts are not read from it concurrently:
// progressSink copies Writer.Counts on the writer's goroutine each time a
// batch is flushed (every few thousand rows), and the reporter reads that
// copy under the mutex. The per-row hot path is untouched.
type progress struct {
	mu     sync.Mutex
	counts map[model.Kind]int64
}

func (p *progress) set(c map[model.Kind]int64) {
	p.mu.Lock()
	p.counts = c
	p.mu.Unlock()
}

func (p *progress) snapshot() map[model.Kind]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts
}

// line renders one progress line: elapsed time and rows so far per kind,
// in model order.
func (p *progress) line(elapsed time.Duration) string {
	c := p.snapshot()
	var b strings.Builder
	fmt.Fprintf(&b, "agentctl extract: %s", elapsed.Round(100*time.Millisecond))
	if len(c) == 0 {
		b.WriteString(" reading the catalog, no batch written yet")
	}
	for _, k := range model.Kinds {
		if n, ok := c[k]; ok {
			fmt.Fprintf(&b, " %s=%d", k, n)
		}
	}
	return b.String()
}

// report writes a progress line on every tick until stop is closed.
func (p *progress) report(ticks <-chan time.Time, stop <-chan struct{}, start time.Time, out io.Writer) {
	for {
		select {
		case <-stop:
			return
		case t := <-ticks:
			fmt.Fprintln(out, p.line(t.Sub(start)))
		}
	}
}

// progressSink passes batches on and refreshes the progress counts.
type progressSink struct {
	next   model.BatchSink
	counts func() map[model.Kind]int64 // the Writer's Counts; set once the Writer exists
	p      *progress
}

func (s *progressSink) WriteRecord(kind model.Kind, rec arrow.Record) error {
	if s.counts != nil {
		s.p.set(s.counts())
	}
	return s.next.WriteRecord(kind, rec)
}
