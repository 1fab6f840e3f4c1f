package adapters

import (
	"context"
	"encoding/json"
	"fmt"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

// StateClient is the slice of the Dapr client a RecordStore needs.
type StateClient interface {
	GetState(ctx context.Context, storeName, key string, meta map[string]string) (*dapr.StateItem, error)
	SaveState(ctx context.Context, storeName, key string, data []byte, meta map[string]string, so ...dapr.StateOption) error
}

// RecordStore keeps JSON records in a Dapr state store.
type RecordStore struct {
	client StateClient
	store  string
}

// NewRecordStore returns records kept in the named state store component.
func NewRecordStore(client StateClient, store string) *RecordStore {
	return &RecordStore{client: client, store: store}
}

// Get decodes the record under key into v; false when there is none.
func (r *RecordStore) Get(ctx context.Context, key string, v any) (bool, error) {
	item, err := r.client.GetState(ctx, r.store, key, nil)
	if err != nil {
		return false, errkind.Wrap(errkind.Transient, err, fmt.Sprintf("read %s from state store %s", key, r.store))
	}
	if item == nil || len(item.Value) == 0 {
		return false, nil
	}
	if err := json.Unmarshal(item.Value, v); err != nil {
		return false, fmt.Errorf("record %s in state store %s is not valid JSON for its type: %w", key, r.store, err)
	}
	return true, nil
}

// Save writes v as JSON under key, replacing what was there, with strong
// consistency: a record is the proof that work is done.
func (r *RecordStore) Save(ctx context.Context, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode record %s: %w", key, err)
	}
	err = r.client.SaveState(ctx, r.store, key, data, nil, dapr.WithConsistency(dapr.StateConsistencyStrong))
	if err != nil {
		return errkind.Wrap(errkind.Transient, err, fmt.Sprintf("write %s to state store %s", key, r.store))
	}
	return nil
}
