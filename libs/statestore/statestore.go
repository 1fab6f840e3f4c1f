// Package statestore keeps JSON values in a Dapr state store with
// optimistic concurrency (etags), and gives its errors their errkind: an
// etag mismatch is a conflict, an unreachable store is transient.
package statestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

// Client is the slice of the Dapr client a Store uses.
type Client interface {
	GetState(ctx context.Context, storeName, key string, meta map[string]string) (*dapr.StateItem, error)
	SaveStateWithETag(ctx context.Context, storeName, key string, data []byte, etag string, meta map[string]string, so ...dapr.StateOption) error
	DeleteStateWithETag(ctx context.Context, storeName, key string, etag *dapr.ETag, meta map[string]string, opts *dapr.StateOptions) error
}

// Store reads and writes JSON values of one state store component. Who
// loads the component is named in errors (Owner, e.g. "the orchestrator").
type Store struct {
	Client Client
	Name   string
	Owner  string
}

// Load decodes key into v and returns its etag; found is false (and v
// untouched) when the key does not exist.
func (s Store) Load(ctx context.Context, key string, v any) (etag string, found bool, err error) {
	item, err := s.Client.GetState(ctx, s.Name, key, nil)
	if err != nil {
		return "", false, s.error(err, "read "+key+" from state store "+s.Name)
	}
	if item == nil || len(item.Value) == 0 {
		return "", false, nil
	}
	if err := json.Unmarshal(item.Value, v); err != nil {
		return "", false, fmt.Errorf("decode %s from state store %s: %w", key, s.Name, err)
	}
	return item.Etag, true, nil
}

// Save writes v under key only if the stored etag is still etag; an empty
// etag creates the key only if it does not exist. A lost race is
// errkind.Conflict.
func (s Store) Save(ctx context.Context, key string, v any, etag string) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	err = s.Client.SaveStateWithETag(ctx, s.Name, key, b, etag, nil,
		dapr.WithConcurrency(dapr.StateConcurrencyFirstWrite), dapr.WithConsistency(dapr.StateConsistencyStrong))
	if err != nil {
		return s.error(err, "write "+key+" to state store "+s.Name)
	}
	return nil
}

// Delete removes key (whatever its etag); a missing key is not an error.
func (s Store) Delete(ctx context.Context, key string) error {
	if err := s.Client.DeleteStateWithETag(ctx, s.Name, key, nil, nil, nil); err != nil {
		return s.error(err, "delete "+key+" from state store "+s.Name)
	}
	return nil
}

// error gives a state store error its kind: an etag mismatch is a
// conflict, everything else may pass.
func (s Store) error(err error, what string) error {
	var code codes.Code = codes.Unknown
	if st, ok := status.FromError(err); ok {
		code = st.Code()
	} else if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		code = codes.DeadlineExceeded
	}
	// Redis answers a first-write or etag mismatch with Internal and its
	// script's "failed to set key" (state.redis), SQL stores with Aborted.
	if code == codes.Internal && strings.Contains(err.Error(), "failed to set key") {
		code = codes.Aborted
	}
	switch code {
	case codes.Aborted:
		return errkind.Wrap(errkind.Conflict, err, what+": changed concurrently")
	case codes.InvalidArgument:
		return errkind.Wrap(errkind.Invalid, err, what)
	default:
		owner := s.Owner
		if owner == "" {
			owner = "this app"
		}
		return errkind.Wrap(errkind.Transient, err, what+" (is the state store component loaded by "+owner+"'s sidecar?)")
	}
}
