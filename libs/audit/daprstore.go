package audit

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	dapr "github.com/dapr/go-sdk/client"
)

// StateClient is the slice of the Dapr client DaprStore uses.
type StateClient interface {
	GetState(ctx context.Context, storeName, key string, meta map[string]string) (*dapr.StateItem, error)
	GetBulkState(ctx context.Context, storeName string, keys []string, meta map[string]string, parallelism int32) ([]*dapr.BulkStateItem, error)
	ExecuteStateTransaction(ctx context.Context, storeName string, meta map[string]string, ops []*dapr.StateOperation) error
}

// DaprStore keeps the log in a Dapr state store that supports
// transactions (SQLite, PostgreSQL, Redis; ADR 0014). Each Commit is one
// transaction: entries and checkpoints are created with first-write
// concurrency (only if absent), the head is written against its etag.
type DaprStore struct {
	Client StateClient
	Name   string
	// NoRollback marks a store whose transactions apply the operations
	// that succeed even when another fails (Redis: MULTI has no
	// rollback). The writer then checks the head's etag before each
	// commit, so a stale writer does not overwrite entries before its
	// head write fails. Only one writer may run against such a store.
	NoRollback bool
}

// CheckBeforeCommit reports NoRollback to the Log.
func (s DaprStore) CheckBeforeCommit() bool { return s.NoRollback }

var strong = &dapr.StateOptions{Concurrency: dapr.StateConcurrencyFirstWrite, Consistency: dapr.StateConsistencyStrong}

func (s DaprStore) LoadHead(ctx context.Context) ([]byte, string, bool, error) {
	item, err := s.Client.GetState(ctx, s.Name, headKey, map[string]string{"consistency": "strong"})
	if err != nil {
		return nil, "", false, fmt.Errorf("read %s from state store %s: %w", headKey, s.Name, err)
	}
	if item == nil || len(item.Value) == 0 {
		return nil, "", false, nil
	}
	return item.Value, item.Etag, true, nil
}

func (s DaprStore) Get(ctx context.Context, keys []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(keys))
	const chunk = 512
	for len(keys) > 0 {
		n := min(chunk, len(keys))
		items, err := s.Client.GetBulkState(ctx, s.Name, keys[:n], nil, 8)
		if err != nil {
			return nil, fmt.Errorf("read %d audit keys from state store %s: %w", n, s.Name, err)
		}
		for _, it := range items {
			if it.Error != "" {
				return nil, fmt.Errorf("read %s from state store %s: %s", it.Key, s.Name, it.Error)
			}
			if len(it.Value) > 0 {
				out[it.Key] = it.Value
			}
		}
		keys = keys[n:]
	}
	return out, nil
}

func (s DaprStore) Commit(ctx context.Context, c Commit) error {
	ops := make([]*dapr.StateOperation, 0, len(c.Create)+len(c.Put)+len(c.Remember)+1)
	for k, v := range c.Create {
		ops = append(ops, &dapr.StateOperation{Type: dapr.StateOperationTypeUpsert,
			Item: &dapr.SetStateItem{Key: k, Value: v, Options: strong}})
	}
	for k, v := range c.Put {
		ops = append(ops, &dapr.StateOperation{Type: dapr.StateOperationTypeUpsert,
			Item: &dapr.SetStateItem{Key: k, Value: v, Options: &dapr.StateOptions{Consistency: dapr.StateConsistencyStrong}}})
	}
	ttl := map[string]string{"ttlInSeconds": strconv.Itoa(int(RequestMemory.Seconds()))}
	for k, v := range c.Remember {
		ops = append(ops, &dapr.StateOperation{Type: dapr.StateOperationTypeUpsert,
			Item: &dapr.SetStateItem{Key: k, Value: v, Metadata: ttl, Options: &dapr.StateOptions{Consistency: dapr.StateConsistencyStrong}}})
	}
	head := &dapr.SetStateItem{Key: headKey, Value: c.Head, Options: strong}
	if c.HeadETag != "" {
		head.Etag = &dapr.ETag{Value: c.HeadETag}
	}
	ops = append(ops, &dapr.StateOperation{Type: dapr.StateOperationTypeUpsert, Item: head})
	if err := s.Client.ExecuteStateTransaction(ctx, s.Name, nil, ops); err != nil {
		msg := strings.ToLower(err.Error())
		// SQL stores name the etag; Redis's script says it could not set
		// the head (its version differs).
		if strings.Contains(msg, "etag") || strings.Contains(msg, "failed to set key "+headKey) {
			return fmt.Errorf("state store %s: %w (%v)", s.Name, ErrConflict, err)
		}
		return fmt.Errorf("write %d audit keys to state store %s in one transaction (does it support transactions, "+
			"and is it loaded by health's sidecar?): %w", len(ops), s.Name, err)
	}
	return nil
}
