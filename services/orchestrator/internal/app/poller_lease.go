package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/lease"
)

// PollerLease is the slice of lease.Lease the poller's leader loop uses:
// one orchestrator replica at a time holds it and polls the control plane.
type PollerLease interface {
	TryAcquire(ctx context.Context) (lease.Status, error)
	Data() json.RawMessage
	Put(ctx context.Context, data any) error
	Keep(ctx context.Context, lost func(error))
	Release(ctx context.Context, drop bool) error
	Holder() string
	TTL() time.Duration
}

// heldLeases is the data kept with the poller lease: the control-plane
// leases the holder keeps, so a replica taking over resumes them.
type heldLeases struct {
	Leases map[string]LeaseRecord `json:"leases"`
}

// RunPolling runs the control-plane poller on this replica whenever it
// holds the poller lease, until ctx ends. Replicas that do not hold it try
// every TTL/5; one takes over within TTL + 2·TTL/5 of the holder's last
// write when the holder dies. The held control-plane leases
// are kept with the lease itself, so every write of them is fenced: a
// replica that lost the lease can no longer record anything and stops
// polling. legacy holds leases an earlier version recorded under its own
// key; they are moved into the lease once.
func RunPolling(ctx context.Context, l PollerLease, legacy LeaseStore, newPoller func(LeaseStore) *Poller, m *Metrics, log *zap.Logger) {
	log = log.With(zap.String("holder", l.Holder()))
	for ctx.Err() == nil {
		st, ok := acquirePoller(ctx, l, log)
		if !ok {
			return
		}
		log.Info("this replica now polls the control plane", zap.Int64("term", st.Term), zap.Bool("taken_over", st.TakenOver))
		m.pollerHeld(true)
		pctx, cancel := context.WithCancel(ctx)
		store := &fencedLeases{l: l, legacy: legacy, lost: cancel, log: log}
		go l.Keep(pctx, func(err error) {
			log.Warn("the poller lease was lost; this replica stops polling (another takes over)", zap.Error(err))
			cancel()
		})
		newPoller(store).Run(pctx)
		cancel()
		m.pollerHeld(false)
		if ctx.Err() != nil {
			// Shutting down: free the lease so another replica polls at
			// once instead of after the TTL.
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := l.Release(rctx, false); err != nil {
				log.Warn("releasing the poller lease failed; another replica takes over when it expires", zap.Error(err), zap.Duration("ttl", l.TTL()))
			}
			rcancel()
		}
	}
}

// acquirePoller waits until this replica holds the lease (false when ctx ends).
func acquirePoller(ctx context.Context, l PollerLease, log *zap.Logger) (lease.Status, bool) {
	every := l.TTL() / 5
	lastHolder, failures := "", 0
	for {
		st, err := l.TryAcquire(ctx)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return lease.Status{}, false
			}
			if failures++; failures == 1 || failures%12 == 0 {
				log.Warn("reading the poller lease failed; trying again", zap.Error(err), zap.Int("failures", failures))
			}
		case st.Acquired:
			return st, true
		case st.Holder != lastHolder:
			lastHolder, failures = st.Holder, 0
			log.Info("another replica polls the control plane; this one stands by", zap.String("poller", st.Holder),
				zap.Int64("term", st.Term), zap.Duration("takeover_after", l.TTL()))
		}
		if !sleep(ctx, every) {
			return lease.Status{}, false
		}
	}
}

// fencedLeases is the poller's LeaseStore inside the poller lease.
type fencedLeases struct {
	l      PollerLease
	legacy LeaseStore
	lost   func()
	log    *zap.Logger
}

func (f *fencedLeases) Load(ctx context.Context) (map[string]LeaseRecord, error) {
	var h heldLeases
	if data := f.l.Data(); len(data) > 0 {
		if err := json.Unmarshal(data, &h); err != nil {
			return nil, fmt.Errorf("the leases kept with the poller lease are not valid JSON: %w", err)
		}
	}
	if h.Leases == nil && f.legacy != nil {
		old, err := f.legacy.Load(ctx)
		if err != nil {
			return nil, err
		}
		if len(old) > 0 {
			f.log.Info("moving the leases recorded by an earlier version into the poller lease", zap.Int("leases", len(old)))
			if err := f.Save(ctx, old); err != nil {
				return nil, err
			}
			if err := f.legacy.Save(ctx, map[string]LeaseRecord{}); err != nil {
				f.log.Warn("emptying the leases an earlier version recorded failed; they are kept in the poller lease", zap.Error(err))
			}
		}
		h.Leases = old
	}
	if h.Leases == nil {
		h.Leases = map[string]LeaseRecord{}
	}
	return h.Leases, nil
}

func (f *fencedLeases) Save(ctx context.Context, leases map[string]LeaseRecord) error {
	err := f.l.Put(ctx, heldLeases{Leases: leases})
	if errors.Is(err, lease.ErrLost) {
		f.lost()
	}
	return err
}
