package lease

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/lease/leasetest"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newAt(st Store, holder string, c *clock) *Lease {
	l := New(st, "poller", holder, 15*time.Second)
	l.now = c.now
	return l
}

func TestOneHolderAtATime(t *testing.T) {
	ctx := context.Background()
	st, c := leasetest.NewMemStore(), &clock{t: time.Unix(1000, 0)}
	a, b := newAt(st, "orchestrator", c), newAt(st, "orchestrator-2", c)

	s, err := a.TryAcquire(ctx)
	require.NoError(t, err)
	require.True(t, s.Acquired)
	require.EqualValues(t, 1, s.Term)
	require.False(t, s.TakenOver, "a new lease is not a takeover")

	// The holder keeps writing: the other never takes over, however long.
	for range 20 {
		c.advance(3 * time.Second)
		require.NoError(t, a.Put(ctx, map[string]int{"leases": 1}))
		s, err = b.TryAcquire(ctx)
		require.NoError(t, err)
		require.False(t, s.Acquired)
		require.Equal(t, "orchestrator", s.Holder)
	}

	// The holder stops writing (killed). The other takes over once it has
	// seen the same etag for the TTL, not before.
	s, err = b.TryAcquire(ctx)
	require.NoError(t, err)
	require.False(t, s.Acquired)
	c.advance(14 * time.Second)
	s, _ = b.TryAcquire(ctx)
	require.False(t, s.Acquired, "taken over before the TTL")
	c.advance(time.Second)
	s, err = b.TryAcquire(ctx)
	require.NoError(t, err)
	require.True(t, s.Acquired)
	require.True(t, s.TakenOver)
	require.EqualValues(t, 2, s.Term, "a takeover starts a new term")
	require.JSONEq(t, `{"leases":1}`, string(b.Data()), "the data kept with the lease passes to the new holder")

	// The old holder had stepped down by itself (no write for TTL/2) and
	// its writes are refused: it cannot overwrite the new holder's data.
	require.False(t, a.Held())
	require.ErrorIs(t, a.Put(ctx, map[string]int{"leases": 9}), ErrLost)
	require.JSONEq(t, `{"leases":1}`, string(b.Data()))
}

func TestFencedWritesOfAReplacedHolder(t *testing.T) {
	ctx := context.Background()
	st, c := leasetest.NewMemStore(), &clock{t: time.Unix(1000, 0)}
	a, b := newAt(st, "a", c), newAt(st, "b", c)
	_, err := a.TryAcquire(ctx)
	require.NoError(t, err)
	// b takes over while a still believes it holds it (a paused process
	// whose clock reading did not move): a's next write is refused.
	_, _ = b.TryAcquire(ctx)
	c.advance(15 * time.Second)
	a.mu.Lock()
	a.lastOK = c.now() // a does not notice time passing
	a.mu.Unlock()
	s, err := b.TryAcquire(ctx)
	require.NoError(t, err)
	require.True(t, s.Acquired)
	err = a.Renew(ctx)
	require.ErrorIs(t, err, ErrLost)
	require.False(t, a.Held())
	require.NoError(t, b.Renew(ctx))
}

// A restarted replica (same name, new process) waits like any other: a
// name is not proof that the old process is gone.
func TestRestartedReplicaWaitsLikeAnyOther(t *testing.T) {
	ctx := context.Background()
	st, c := leasetest.NewMemStore(), &clock{t: time.Unix(1000, 0)}
	first := newAt(st, "orchestrator", c)
	_, err := first.TryAcquire(ctx)
	require.NoError(t, err)
	require.NoError(t, first.Put(ctx, []string{"lease-1"}))
	again := newAt(st, "orchestrator", c)
	s, err := again.TryAcquire(ctx)
	require.NoError(t, err)
	require.False(t, s.Acquired, "the same name does not skip the wait")
	c.advance(15 * time.Second)
	s, err = again.TryAcquire(ctx)
	require.NoError(t, err)
	require.True(t, s.Acquired)
	require.True(t, s.TakenOver)
	require.EqualValues(t, 2, s.Term)
	require.JSONEq(t, `["lease-1"]`, string(again.Data()))
}

func TestReleaseFreesAtOnce(t *testing.T) {
	ctx := context.Background()
	st, c := leasetest.NewMemStore(), &clock{t: time.Unix(1000, 0)}
	a, b := newAt(st, "a", c), newAt(st, "b", c)
	_, err := a.TryAcquire(ctx)
	require.NoError(t, err)
	require.NoError(t, a.Release(ctx, false))
	s, err := b.TryAcquire(ctx)
	require.NoError(t, err)
	require.True(t, s.Acquired)
	require.False(t, s.TakenOver)
	require.NoError(t, b.Release(ctx, true))
	var rec Record
	_, found, _ := st.Load(ctx, "poller", &rec)
	require.False(t, found, "a dropped lease leaves no key")
}

func TestStepsDownWithoutSuccessfulWrites(t *testing.T) {
	ctx := context.Background()
	st, c := leasetest.NewMemStore(), &clock{t: time.Unix(1000, 0)}
	a := newAt(st, "a", c)
	_, err := a.TryAcquire(ctx)
	require.NoError(t, err)
	c.advance(7 * time.Second)
	require.True(t, a.Held())
	c.advance(time.Second) // 8 s > TTL/2 without a write
	require.False(t, a.Held())
	require.True(t, errors.Is(a.Renew(ctx), ErrLost))
}

// Two replicas racing for a free lease: exactly one wins each round.
func TestRaceForAFreeLease(t *testing.T) {
	ctx := context.Background()
	for range 50 {
		st, c := leasetest.NewMemStore(), &clock{t: time.Unix(1000, 0)}
		ls := []*Lease{newAt(st, "a", c), newAt(st, "b", c), newAt(st, "c", c)}
		var wg sync.WaitGroup
		won := make([]bool, len(ls))
		for i, l := range ls {
			wg.Go(func() {
				s, err := l.TryAcquire(ctx)
				require.NoError(t, err)
				won[i] = s.Acquired
			})
		}
		wg.Wait()
		n := 0
		for _, w := range won {
			if w {
				n++
			}
		}
		require.Equal(t, 1, n, "winners: %v", won)
	}
}
