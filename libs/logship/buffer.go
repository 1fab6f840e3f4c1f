package logship

import (
	"encoding/json"
	"strings"
	"sync"
)

// buffer holds encoded lines per job until the shipper takes them. Its
// limits count lines and bytes not yet taken; a line that does not fit is
// dropped and counted against its job, never waited for.
type buffer struct {
	maxLines, maxBytes int
	onDrop             func(n int) // counts lines dropped because the buffer was full

	mu    sync.Mutex
	lines int
	bytes int
	jobs  map[string]*jobLines
	order []string // jobs in the order they first logged since the last take
}

type jobLines struct {
	lines   []json.RawMessage
	bytes   int
	dropped int
}

func newBuffer(maxLines, maxBytes int, onDrop func(int)) *buffer {
	return &buffer{maxLines: maxLines, maxBytes: maxBytes, onDrop: onDrop, jobs: map[string]*jobLines{}}
}

func (b *buffer) job(id string) *jobLines {
	j, ok := b.jobs[id]
	if !ok {
		// The id may alias a buffer its caller reuses (fasthttp hands out
		// such strings for path parameters): keep our own copy as the key.
		id = strings.Clone(id)
		j = &jobLines{}
		b.jobs[id] = j
		b.order = append(b.order, id)
	}
	return j
}

// add keeps line for job id, or drops and counts it when the buffer is full.
func (b *buffer) add(id string, line []byte) {
	b.mu.Lock()
	j := b.job(id)
	if b.lines+1 > b.maxLines || b.bytes+len(line) > b.maxBytes {
		j.dropped++
		b.mu.Unlock()
		b.onDrop(1)
		return
	}
	j.lines = append(j.lines, line)
	j.bytes += len(line)
	b.lines++
	b.bytes += len(line)
	b.mu.Unlock()
}

// lost records n lines of job id that were taken but never delivered, so the
// job's next batch reports them. They take no room.
func (b *buffer) lost(id string, n int) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.job(id).dropped += n
	b.mu.Unlock()
}

// take empties the buffer and returns its jobs in first-logged order.
func (b *buffer) take() ([]string, map[string]*jobLines) {
	b.mu.Lock()
	defer b.mu.Unlock()
	order, jobs := b.order, b.jobs
	b.order, b.jobs = nil, map[string]*jobLines{}
	b.lines, b.bytes = 0, 0
	return order, jobs
}

// size is the number of lines and bytes held.
func (b *buffer) size() (lines, bytes int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lines, b.bytes
}
