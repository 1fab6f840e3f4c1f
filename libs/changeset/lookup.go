package changeset

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// ChunkCache keeps the last few decoded chunks of runs, by sha256, for
// lookups: a partition's rows come roughly in name order, so a few chunks
// serve most of them. Safe for concurrent use.
type ChunkCache struct {
	mu     sync.Mutex
	max    int
	chunks map[string][]Entry
	order  []string // least recently used first
}

// NewChunkCache keeps up to n chunks (at least 1).
func NewChunkCache(n int) *ChunkCache {
	return &ChunkCache{max: max(1, n), chunks: map[string][]Entry{}}
}

func (c *ChunkCache) get(sum string) ([]Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.chunks[sum]
	if ok {
		c.touch(sum)
	}
	return e, ok
}

func (c *ChunkCache) put(sum string, entries []Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.chunks[sum]; !ok && len(c.order) >= c.max {
		delete(c.chunks, c.order[0])
		c.order = c.order[1:]
	}
	c.chunks[sum] = entries
	c.touch(sum)
}

func (c *ChunkCache) touch(sum string) {
	if i := slices.Index(c.order, sum); i >= 0 {
		c.order = slices.Delete(c.order, i, i+1)
	}
	c.order = append(c.order, sum)
}

// Lookup finds assets in a run by kind and qualified name, reading only
// the chunk that may hold each one.
type Lookup struct {
	store Store
	idx   Index
	cache *ChunkCache
}

// NewLookup looks assets up in the run x lists, keeping decoded chunks in
// cache.
func NewLookup(store Store, x Index, cache *ChunkCache) *Lookup {
	return &Lookup{store: store, idx: x, cache: cache}
}

// Get finds an asset.
func (l *Lookup) Get(ctx context.Context, e Entry) (Entry, bool, error) {
	if l == nil {
		return Entry{}, false, nil
	}
	// The last chunk whose first entry is not after e.
	i, found := slices.BinarySearchFunc(l.idx.Chunks, e, func(c Chunk, e Entry) int {
		return Compare(Entry{Kind: c.FirstKind, QualifiedName: c.First}, e)
	})
	if !found {
		i--
	}
	if len(l.idx.Chunks) == 1 {
		i = 0 // a single-file run names no first entry
	}
	if i < 0 {
		return Entry{}, false, nil
	}
	entries, err := l.chunk(ctx, l.idx.Chunks[i])
	if err != nil {
		return Entry{}, false, err
	}
	j, ok := slices.BinarySearchFunc(entries, e, Compare)
	if !ok {
		return Entry{}, false, nil
	}
	return entries[j], true, nil
}

func (l *Lookup) chunk(ctx context.Context, c Chunk) ([]Entry, error) {
	if entries, ok := l.cache.get(c.SHA256); ok {
		return entries, nil
	}
	x := l.idx
	x.Chunks, x.Entries = []Chunk{c}, c.Entries
	r := NewRunReader(ctx, l.store, x)
	defer r.Close()
	entries := make([]Entry, 0, c.Entries)
	for {
		e, ok, err := r.Next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		entries = append(entries, e)
	}
	l.cache.put(c.SHA256, entries)
	return entries, nil
}

// Classify says whether e is new, changed or unchanged against the run,
// and for a changed asset which attributes changed. A nil Lookup (no
// earlier run) makes every asset created.
func (l *Lookup) Classify(ctx context.Context, e Entry) (Op, []string, error) {
	old, ok, err := l.Get(ctx, e)
	if err != nil {
		return "", nil, fmt.Errorf("look %s %s up in the catalog state: %w", e.Kind, e.QualifiedName, err)
	}
	op, attrs := classify(old, ok, e)
	return op, attrs, nil
}
