package adapters

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

// StateClient is the slice of the Dapr client the state adapters use.
type StateClient interface {
	GetState(ctx context.Context, storeName, key string, meta map[string]string) (*dapr.StateItem, error)
	SaveStateWithETag(ctx context.Context, storeName, key string, data []byte, etag string, meta map[string]string, so ...dapr.StateOption) error
}

// stateStore reads and writes JSON values with optimistic concurrency.
type stateStore struct {
	client StateClient
	name   string
}

// load decodes key into v and returns its etag; found is false (and v
// untouched) when the key does not exist.
func (s stateStore) load(ctx context.Context, key string, v any) (etag string, found bool, err error) {
	item, err := s.client.GetState(ctx, s.name, key, nil)
	if err != nil {
		return "", false, stateError(err, "read "+key+" from state store "+s.name)
	}
	if item == nil || len(item.Value) == 0 {
		return "", false, nil
	}
	if err := json.Unmarshal(item.Value, v); err != nil {
		return "", false, fmt.Errorf("decode %s from state store %s: %w", key, s.name, err)
	}
	return item.Etag, true, nil
}

// save writes v under key only if the stored etag is still etag; an empty
// etag creates the key only if it does not exist. A lost race is
// errkind.Conflict.
func (s stateStore) save(ctx context.Context, key string, v any, etag string) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	err = s.client.SaveStateWithETag(ctx, s.name, key, b, etag, nil,
		dapr.WithConcurrency(dapr.StateConcurrencyFirstWrite), dapr.WithConsistency(dapr.StateConsistencyStrong))
	if err != nil {
		return stateError(err, "write "+key+" to state store "+s.name)
	}
	return nil
}

// stateError gives a state store error its kind: an etag mismatch is a
// conflict, everything else may pass.
func stateError(err error, what string) error {
	var code codes.Code = codes.Unknown
	if st, ok := status.FromError(err); ok {
		code = st.Code()
	} else if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		code = codes.DeadlineExceeded
	}
	switch code {
	case codes.Aborted:
		return errkind.Wrap(errkind.Conflict, err, what+": changed concurrently")
	case codes.InvalidArgument:
		return errkind.Wrap(errkind.Invalid, err, what)
	default:
		return errkind.Wrap(errkind.Transient, err, what+" (is the state store component "+
			"loaded by the orchestrator's sidecar?)")
	}
}
