package adapters

import (
	"sync"

	"github.com/secure-agent/secure-agent/libs/objectstore"
)

// BindingStores opens object stores over Dapr output bindings by name,
// one per binding, shared by every caller.
type BindingStores struct {
	client objectstore.BindingInvoker
	mu     sync.Mutex
	stores map[string]*objectstore.Store
}

func NewBindingStores(client objectstore.BindingInvoker) *BindingStores {
	return &BindingStores{client: client, stores: map[string]*objectstore.Store{}}
}

// Store returns the object store of binding.
func (b *BindingStores) Store(binding string) *objectstore.Store {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.stores[binding]
	if !ok {
		s = objectstore.New(b.client, binding)
		b.stores[binding] = s
	}
	return s
}
