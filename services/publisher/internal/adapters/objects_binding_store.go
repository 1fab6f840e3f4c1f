package adapters

import (
	"sync"

	"github.com/secure-agent/secure-agent/libs/objectstore"
)

// BindingStores opens object stores over Dapr output bindings by name,
// one per binding, shared by every caller.
type BindingStores struct {
	client objectstore.BindingInvoker
	opts   []objectstore.Option
	mu     sync.Mutex
	stores map[string]*objectstore.Store
}

// NewBindingStores opens every store with opts (the process's tracer
// provider and registry).
func NewBindingStores(client objectstore.BindingInvoker, opts ...objectstore.Option) *BindingStores {
	return &BindingStores{client: client, opts: opts, stores: map[string]*objectstore.Store{}}
}

// Store returns the object store of binding.
func (b *BindingStores) Store(binding string) *objectstore.Store {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.stores[binding]
	if !ok {
		s = objectstore.New(b.client, binding, b.opts...)
		b.stores[binding] = s
	}
	return s
}
