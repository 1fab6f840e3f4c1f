package app

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestJobGateCancelStopsPublishesInFlight(t *testing.T) {
	g := newJobGate()
	stopped, leave := g.Shared("j1")
	otherStopped, leaveOther := g.Shared("j2")
	require.False(t, stopped())

	cancelled, released := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(released)
		release := g.Exclusive("j1", true)
		close(cancelled)
		release()
	}()
	require.Eventually(t, stopped, 5*time.Second, time.Millisecond, "the publish in flight is told to stop")
	require.False(t, otherStopped(), "other jobs are not affected")
	select {
	case <-cancelled:
		t.Fatal("cancel went ahead while a publish of the job was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	leave()
	<-cancelled
	leaveOther()
	<-released // the cancel's release writes the map the check reads
	require.Empty(t, g.entries, "entries are dropped once unused")

	stopped, leave = g.Shared("j1")
	require.False(t, stopped(), "a later publish consults the job record, not a stale flag")
	leave()
}

func TestKeyedMutexSerialisesOneKey(t *testing.T) {
	k := newKeyedMutex()
	unlock := k.Lock("j1/p000")
	unlockOther := k.Lock("j1/p001") // another key does not wait
	got, released := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(released)
		u := k.Lock("j1/p000")
		close(got)
		u()
	}()
	select {
	case <-got:
		t.Fatal("second lock of the same key did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	unlock()
	<-got
	unlockOther()
	<-released // the second holder's unlock writes the map the check reads
	require.Empty(t, k.entries)
}
