package adapters

import (
	"context"
	"time"

	"github.com/secure-agent/secure-agent/libs/lease"

	"github.com/secure-agent/secure-agent/libs/statestore"
	"github.com/secure-agent/secure-agent/services/orchestrator/internal/app"
)

// leasesKey held the control-plane leases before the poller lease kept
// them (read once, to move them).
const leasesKey = "controlplane-leases"

// pollerLeaseKey is the lease one orchestrator replica holds to poll the
// control plane; the control-plane leases it keeps are stored with it.
const pollerLeaseKey = "controlplane-poller"

// NewPollerLease is this replica's view of the poller lease.
func NewPollerLease(client StateClient, storeName, instance string, ttl time.Duration) *lease.Lease {
	return lease.New(newStore(client, storeName), pollerLeaseKey, instance, ttl)
}

// LeaseStore reads and empties the control-plane leases an earlier version kept under one key of a Dapr
// state store (a handful at most: one per leased job running).
type LeaseStore struct {
	st statestore.Store
}

func NewLeaseStore(client StateClient, storeName string) *LeaseStore {
	return &LeaseStore{st: newStore(client, storeName)}
}

type heldLeases struct {
	Leases map[string]app.LeaseRecord `json:"leases"`
}

// Load reads the held leases (none when the key does not exist).
func (s *LeaseStore) Load(ctx context.Context) (map[string]app.LeaseRecord, error) {
	var h heldLeases
	if _, _, err := s.st.Load(ctx, leasesKey, &h); err != nil {
		return nil, err
	}
	if h.Leases == nil {
		h.Leases = map[string]app.LeaseRecord{}
	}
	return h.Leases, nil
}

// Save replaces the held leases; the poller is their only writer.
func (s *LeaseStore) Save(ctx context.Context, leases map[string]app.LeaseRecord) error {
	etag, _, err := s.st.Load(ctx, leasesKey, &heldLeases{})
	if err != nil {
		return err
	}
	return s.st.Save(ctx, leasesKey, heldLeases{Leases: leases}, etag)
}
