package app

import (
	"sync"
	"sync/atomic"
)

// keyedMutex serialises work per key (a job's partition) in this process;
// entries live only while someone holds or waits for them.
type keyedMutex struct {
	mu      sync.Mutex
	entries map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func newKeyedMutex() *keyedMutex { return &keyedMutex{entries: map[string]*keyedEntry{}} }

// Lock locks key and returns its unlock func.
func (k *keyedMutex) Lock(key string) func() {
	k.mu.Lock()
	e, ok := k.entries[key]
	if !ok {
		e = &keyedEntry{}
		k.entries[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.entries, key)
		}
		k.mu.Unlock()
	}
}

// jobGate lets a job's partitions publish side by side (shared) while
// finalize and cancel run alone (exclusive). Cancel raises stop first, so
// publishes in flight give up at their next file instead of finishing.
type jobGate struct {
	mu      sync.Mutex
	entries map[string]*gateEntry
}

type gateEntry struct {
	rw      sync.RWMutex
	stopped atomic.Bool
	refs    int
}

func newJobGate() *jobGate { return &jobGate{entries: map[string]*gateEntry{}} }

func (g *jobGate) entry(id string) *gateEntry {
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.entries[id]
	if !ok {
		e = &gateEntry{}
		g.entries[id] = e
	}
	e.refs++
	return e
}

func (g *jobGate) release(id string, e *gateEntry) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e.refs--; e.refs == 0 {
		delete(g.entries, id)
	}
}

// Shared enters the job for one partition's publish; stopped reports a
// cancel that started meanwhile.
func (g *jobGate) Shared(id string) (stopped func() bool, leave func()) {
	e := g.entry(id)
	e.rw.RLock()
	return e.stopped.Load, func() { e.rw.RUnlock(); g.release(id, e) }
}

// Exclusive waits until no publish of the job runs; with stop, publishes in
// flight are told to give up first.
func (g *jobGate) Exclusive(id string, stop bool) (leave func()) {
	e := g.entry(id)
	if stop {
		e.stopped.Store(true)
	}
	e.rw.Lock()
	return func() { e.rw.Unlock(); g.release(id, e) }
}
