// Package leasetest keeps state like a Dapr state store in memory, for
// tests of code built on libs/lease.
package leasetest

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

// MemStore keeps JSON with etags the way the Dapr state stores do:
// first-write concurrency, a new etag on every write. A Cut view of it
// fails every call while cut (a replica cut off from its sidecar).
type MemStore struct {
	mu   sync.Mutex
	n    int
	vals map[string][]byte
	tags map[string]string
}

// NewMemStore returns an empty store.
func NewMemStore() *MemStore { return &MemStore{vals: map[string][]byte{}, tags: map[string]string{}} }

func (m *MemStore) Load(_ context.Context, key string, v any) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.vals[key]
	if !ok {
		return "", false, nil
	}
	return m.tags[key], true, json.Unmarshal(b, v)
}

func (m *MemStore) Save(_ context.Context, key string, v any, etag string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.tags[key]; (ok && cur != etag) || (!ok && etag != "") {
		return errkind.New(errkind.Conflict, "etag mismatch")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	m.n++
	m.vals[key], m.tags[key] = b, strconv.Itoa(m.n)
	return nil
}

func (m *MemStore) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.vals, key)
	delete(m.tags, key)
	return nil
}

// Cut is a view of a MemStore whose calls fail while cut.
type Cut struct {
	*MemStore
	mu  sync.Mutex
	cut bool
}

// Set cuts the view off (true) or reconnects it.
func (c *Cut) Set(cut bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = cut
}

func (c *Cut) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return errkind.New(errkind.Transient, "the state store cannot be reached")
	}
	return nil
}

func (c *Cut) Load(ctx context.Context, key string, v any) (string, bool, error) {
	if err := c.err(); err != nil {
		return "", false, err
	}
	return c.MemStore.Load(ctx, key, v)
}

func (c *Cut) Save(ctx context.Context, key string, v any, etag string) error {
	if err := c.err(); err != nil {
		return err
	}
	return c.MemStore.Save(ctx, key, v, etag)
}

func (c *Cut) Delete(ctx context.Context, key string) error {
	if err := c.err(); err != nil {
		return err
	}
	return c.MemStore.Delete(ctx, key)
}
