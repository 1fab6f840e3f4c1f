package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrConflict is a commit that lost a race: the head changed since it was
// read, or a key it creates already exists. The writer reloads and retries.
var ErrConflict = errors.New("audit log changed under this writer (another writer, or a retried commit)")

// Commit is one atomic change of the log's storage.
type Commit struct {
	// Create holds keys that must not exist yet (entries, checkpoints).
	Create map[string][]byte
	// Put holds keys written whatever they held (pruned entries,
	// cosignatures added to a checkpoint).
	Put map[string][]byte
	// Remember holds keys written whatever they held that the store may
	// forget after RequestMemory (request ids of AppendOnce).
	Remember map[string][]byte
	// Head is the new head, written only if the stored head's etag is
	// still HeadETag (empty: only if there is no head yet).
	Head     []byte
	HeadETag string
}

// Store keeps the log: a key-value store with one atomic multi-key commit
// guarded by the head's etag. The writer's is a Dapr state store
// (DaprStore); MemStore is for tests and tools.
type Store interface {
	// LoadHead returns the head and its etag; found is false for a new log.
	LoadHead(ctx context.Context) (head []byte, etag string, found bool, err error)
	// Get returns the values of the keys that exist.
	Get(ctx context.Context, keys []string) (map[string][]byte, error)
	// Commit applies c atomically, or returns ErrConflict (wrapped) and
	// changes nothing.
	Commit(ctx context.Context, c Commit) error
}

// Storage keys. Entry records are audit/e/<seq>; checkpoints
// audit/c/<size>.
const (
	headKey = "audit/head"
)

func entryKey(seq uint64) string       { return fmt.Sprintf("audit/e/%d", seq) }
func checkpointKey(size uint64) string { return fmt.Sprintf("audit/c/%d", size) }

// MemStore is an in-memory Store with the same commit rules as the state
// store. Fail, when set, makes every call return it (a store that is down).
type MemStore struct {
	mu   sync.Mutex
	kv   map[string][]byte
	etag int
	Fail error
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{kv: map[string][]byte{}} }

func (m *MemStore) LoadHead(context.Context) ([]byte, string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return nil, "", false, m.Fail
	}
	h, ok := m.kv[headKey]
	if !ok {
		return nil, "", false, nil
	}
	return append([]byte(nil), h...), fmt.Sprint(m.etag), true, nil
}

func (m *MemStore) Get(_ context.Context, keys []string) (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return nil, m.Fail
	}
	out := make(map[string][]byte, len(keys))
	for _, k := range keys {
		if v, ok := m.kv[k]; ok {
			out[k] = append([]byte(nil), v...)
		}
	}
	return out, nil
}

func (m *MemStore) Commit(_ context.Context, c Commit) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return m.Fail
	}
	_, have := m.kv[headKey]
	if (c.HeadETag == "" && have) || (c.HeadETag != "" && (!have || c.HeadETag != fmt.Sprint(m.etag))) {
		return fmt.Errorf("audit head: %w", ErrConflict)
	}
	for k := range c.Create {
		if _, ok := m.kv[k]; ok {
			return fmt.Errorf("%s exists: %w", k, ErrConflict)
		}
	}
	for k, v := range c.Create {
		m.kv[k] = append([]byte(nil), v...)
	}
	for k, v := range c.Put {
		m.kv[k] = append([]byte(nil), v...)
	}
	for k, v := range c.Remember {
		m.kv[k] = append([]byte(nil), v...)
	}
	m.kv[headKey] = append([]byte(nil), c.Head...)
	m.etag++
	return nil
}

// Raw returns a stored value (tests tamper with the log through Raw and
// Set, as an attacker on the host would with the store's files).
func (m *MemStore) Raw(key string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.kv[key]
	return append([]byte(nil), v...), ok
}

// Set writes a value behind the log's back.
func (m *MemStore) Set(key string, v []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v == nil {
		delete(m.kv, key)
		return
	}
	m.kv[key] = append([]byte(nil), v...)
}
