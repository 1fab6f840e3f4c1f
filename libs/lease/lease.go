// Package lease gives one replica at a time a named piece of work (the
// control-plane poller, one partition's publish) through one key of a
// Dapr state store, with etags for fencing: no lock service of our own.
//
// The key holds a Record. Every write by the holder (a renewal, or data it
// keeps with the lease) is conditional on the etag of its previous write,
// so a holder that was replaced fails its next write with a conflict and
// knows it lost the lease. Another replica takes the lease over only after
// it has seen the same etag, unchanged, for the lease's TTL measured on its
// own monotonic clock (the way Kubernetes' leader election does): clocks
// of different hosts are never compared. A holder steps down on its own
// once TTL/2 has passed since its last successful write, so it has stopped
// before anyone can take over. A holder name is not trusted to mean the
// same process: a restarted replica waits like any other (two replicas
// given the same name by mistake must not both hold the lease).
package lease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

// Store is the slice of a state store a lease needs (libs/statestore):
// Save with an empty etag creates the key only if it is absent; a lost
// race is errkind.Conflict.
type Store interface {
	Load(ctx context.Context, key string, v any) (etag string, found bool, err error)
	Save(ctx context.Context, key string, v any, etag string) error
	Delete(ctx context.Context, key string) error
}

// Record is what the lease's key holds.
type Record struct {
	Holder string `json:"holder"` // "" after a release: free to take at once
	// Term grows by one every time the lease is taken: a fencing token for
	// whoever wants to record which term did something.
	Term      int64           `json:"term"`
	TTL       string          `json:"ttl"`        // as the holder set it
	RenewedAt time.Time       `json:"renewed_at"` // the holder's clock; for people, not for takeover
	Data      json.RawMessage `json:"data,omitempty"`
}

// ErrLost is returned by a holder's write after another replica took the
// lease over (or the holder stepped down): stop the work now.
var ErrLost = errors.New("the lease was lost to another replica")

// Lease is one replica's view of one lease key. Its methods are safe to
// call from several goroutines.
type Lease struct {
	store  Store
	key    string
	holder string
	ttl    time.Duration
	now    func() time.Time // monotonic readings only

	mu       sync.Mutex
	held     bool
	etag     string
	rec      Record
	lastOK   time.Time // last successful write while held
	seenEtag string    // while not held: the etag observed and since when
	seenAt   time.Time
	seen     bool
}

// New returns holder's view of the lease under key. ttl is how long a
// holder may go without writing before another replica may take over.
func New(store Store, key, holder string, ttl time.Duration) *Lease {
	return &Lease{store: store, key: key, holder: holder, ttl: ttl, now: time.Now}
}

// Holder names this replica.
func (l *Lease) Holder() string { return l.holder }

// TTL is the lease's time to live.
func (l *Lease) TTL() time.Duration { return l.ttl }

// Status is what TryAcquire found.
type Status struct {
	Acquired bool
	Holder   string // the holder now (this replica when Acquired)
	Term     int64
	// TakenOver is true when the lease was taken from a holder that
	// stopped writing (rather than free or new).
	TakenOver bool
}

// TryAcquire takes the lease if it is free, new, or its holder (another
// replica, or an earlier process of this one) has not written for the TTL
// as seen by this replica. It
// never waits; call it again (every TTL/5, say) until it answers Acquired.
func (l *Lease) TryAcquire(ctx context.Context) (Status, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held {
		return Status{Acquired: true, Holder: l.holder, Term: l.rec.Term}, nil
	}
	var rec Record
	etag, found, err := l.store.Load(ctx, l.key, &rec)
	if err != nil {
		return Status{}, fmt.Errorf("read lease %s: %w", l.key, err)
	}
	now := l.now()
	takeover := false
	switch {
	case !found, rec.Holder == "":
	case l.seen && l.seenEtag == etag && now.Sub(l.seenAt) >= l.ttl:
		takeover = true
	default:
		if !l.seen || l.seenEtag != etag {
			l.seen, l.seenEtag, l.seenAt = true, etag, now
		}
		return Status{Holder: rec.Holder, Term: rec.Term}, nil
	}
	next := rec
	next.Term++
	next.Holder, next.TTL, next.RenewedAt = l.holder, l.ttl.String(), time.Now().UTC()
	if err := l.store.Save(ctx, l.key, next, etag); err != nil {
		if errkind.Of(err) == errkind.Conflict {
			// Someone else wrote first: look again next time.
			l.seen = false
			return Status{Holder: rec.Holder, Term: rec.Term}, nil
		}
		return Status{}, fmt.Errorf("take lease %s: %w", l.key, err)
	}
	newEtag, ok, err := l.reload(ctx, &next)
	if err != nil || !ok {
		// The write happened but its etag is unknown: without it no write
		// of ours can be fenced. Treat the lease as not taken; its TTL
		// frees it (or we take it again by name).
		if err == nil {
			err = fmt.Errorf("lease %s vanished right after it was taken", l.key)
		}
		return Status{}, err
	}
	l.held, l.etag, l.rec, l.lastOK, l.seen = true, newEtag, next, now, false
	return Status{Acquired: true, Holder: l.holder, Term: next.Term, TakenOver: takeover}, nil
}

// reload reads the etag of the holder's own write and checks it is ours.
func (l *Lease) reload(ctx context.Context, want *Record) (string, bool, error) {
	var got Record
	etag, found, err := l.store.Load(ctx, l.key, &got)
	if err != nil {
		return "", false, fmt.Errorf("read lease %s back: %w", l.key, err)
	}
	if !found || got.Holder != want.Holder || got.Term != want.Term {
		return "", false, nil
	}
	return etag, true, nil
}

// Data is the data kept with the lease when it was acquired (or last
// written by this holder).
func (l *Lease) Data() json.RawMessage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append(json.RawMessage(nil), l.rec.Data...)
}

// Term is the term of the lease as this holder holds it.
func (l *Lease) Term() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rec.Term
}

// Held reports whether this replica holds the lease: it took it and its
// last write was less than TTL/2 ago.
func (l *Lease) Held() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.heldLocked()
}

func (l *Lease) heldLocked() bool {
	if l.held && l.now().Sub(l.lastOK) >= l.ttl/2 {
		l.held = false // stepped down: someone may take over after TTL
	}
	return l.held
}

// Renew writes the lease again (keeping its data), fenced by the etag of
// the holder's last write. ErrLost means stop.
func (l *Lease) Renew(ctx context.Context) error { return l.write(ctx, nil) }

// Put stores data with the lease, fenced like Renew (it renews it too).
func (l *Lease) Put(ctx context.Context, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode the data of lease %s: %w", l.key, err)
	}
	return l.write(ctx, b)
}

func (l *Lease) write(ctx context.Context, data json.RawMessage) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.heldLocked() {
		return ErrLost
	}
	next := l.rec
	if data != nil {
		next.Data = data
	}
	next.RenewedAt = time.Now().UTC()
	start := l.now()
	if err := l.store.Save(ctx, l.key, next, l.etag); err != nil {
		if errkind.Of(err) == errkind.Conflict {
			l.held = false
			return fmt.Errorf("%w (lease %s): %v", ErrLost, l.key, err)
		}
		return fmt.Errorf("renew lease %s: %w", l.key, err)
	}
	etag, ok, err := l.reload(ctx, &next)
	if err != nil {
		return err
	}
	if !ok {
		l.held = false
		return fmt.Errorf("%w (lease %s): another holder wrote it", ErrLost, l.key)
	}
	l.etag, l.rec, l.lastOK = etag, next, start
	return nil
}

// Release gives the lease up so another replica may take it at once. It
// deletes the key when drop is true (work that is finished), else leaves
// it free with its data. Releasing a lease not held does nothing.
func (l *Lease) Release(ctx context.Context, drop bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.heldLocked() {
		return nil
	}
	l.held = false
	if drop {
		if err := l.store.Delete(ctx, l.key); err != nil {
			return fmt.Errorf("delete lease %s: %w", l.key, err)
		}
		return nil
	}
	next := l.rec
	next.Holder, next.RenewedAt = "", time.Now().UTC()
	if err := l.store.Save(ctx, l.key, next, l.etag); err != nil && errkind.Of(err) != errkind.Conflict {
		return fmt.Errorf("release lease %s: %w", l.key, err)
	}
	return nil
}

// Keep renews the lease every TTL/5 (two tries before the holder steps
// down at TTL/2) until ctx ends or the lease is lost; it calls lost (once)
// when a renewal is refused or none has succeeded for TTL/2. It returns
// when ctx ends or the lease is lost.
func (l *Lease) Keep(ctx context.Context, lost func(error)) {
	t := time.NewTicker(l.ttl / 5)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := l.Renew(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			continue
		}
		if errors.Is(err, ErrLost) || !l.Held() {
			lost(err)
			return
		}
	}
}
