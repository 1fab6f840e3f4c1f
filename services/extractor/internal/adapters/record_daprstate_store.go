package adapters

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/services/extractor/internal/app"
)

// StateClient is the slice of the Dapr client a RecordStore needs.
type StateClient interface {
	GetState(ctx context.Context, storeName, key string, meta map[string]string) (*dapr.StateItem, error)
	SaveState(ctx context.Context, storeName, key string, data []byte, meta map[string]string, so ...dapr.StateOption) error
}

// RecordStore keeps run records as JSON in a Dapr state store.
type RecordStore struct {
	client StateClient
	store  string
}

// NewRecordStore returns a record store on the named state store component.
func NewRecordStore(client StateClient, store string) (*RecordStore, error) {
	if client == nil || store == "" {
		return nil, errors.New("record store: a state client and a store name are required")
	}
	return &RecordStore{client: client, store: store}, nil
}

// LoadRecord reads the record under key; found is false when there is none.
func (s *RecordStore) LoadRecord(ctx context.Context, key string) (app.Record, bool, error) {
	var r app.Record
	item, err := s.client.GetState(ctx, s.store, key, nil)
	if err != nil {
		return r, false, errkind.Wrap(errkind.Transient, err, fmt.Sprintf("read %s from state store %s", key, s.store))
	}
	if item == nil || len(item.Value) == 0 {
		return r, false, nil
	}
	if err := json.Unmarshal(item.Value, &r); err != nil {
		return r, false, fmt.Errorf("state store %s holds an unreadable record under %s (delete it to extract the partition again): %w", s.store, key, err)
	}
	return r, true, nil
}

// SaveRecord writes the record under key, strongly consistent.
func (s *RecordStore) SaveRecord(ctx context.Context, key string, r app.Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode record %s: %w", key, err)
	}
	err = s.client.SaveState(ctx, s.store, key, b, nil, dapr.WithConsistency(dapr.StateConsistencyStrong))
	if err != nil {
		return errkind.Wrap(errkind.Transient, err, fmt.Sprintf("write %s to state store %s", key, s.store))
	}
	return nil
}
