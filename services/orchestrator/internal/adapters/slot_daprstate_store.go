package adapters

import (
	"context"

	"github.com/secure-agent/secure-agent/libs/statestore"
	"github.com/secure-agent/secure-agent/services/orchestrator/internal/app"
)

// SlotStore keeps each connection's slots under slots/{connection} in a
// Dapr state store.
type SlotStore struct {
	st statestore.Store
}

func NewSlotStore(client StateClient, storeName string) *SlotStore {
	return &SlotStore{st: newStore(client, storeName)}
}

func slotKey(connection string) string { return "slots/" + connection }

// Load returns the connection's slots and their etag ("" when none exist).
func (s *SlotStore) Load(ctx context.Context, connection string) (app.Slots, string, error) {
	var v app.Slots
	etag, _, err := s.st.Load(ctx, slotKey(connection), &v)
	return v, etag, err
}

// Save writes the slots if nobody else did since Load.
func (s *SlotStore) Save(ctx context.Context, connection string, v app.Slots, etag string) error {
	return s.st.Save(ctx, slotKey(connection), v, etag)
}
