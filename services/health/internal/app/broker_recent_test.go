package app

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// gatedBroker holds every publish until the gate opens, then lets the
// loopback broker deliver the acks.
type gatedBroker struct {
	*loopbackBroker
	gate      chan struct{}
	published atomic.Int64
}

func (g *gatedBroker) Publish(ctx context.Context, topic string, v any) error {
	g.published.Add(1)
	<-g.gate
	return g.loopbackBroker.Publish(ctx, topic, v)
}

func TestRecentProbeReusesAFreshResult(t *testing.T) {
	broker := &loopbackBroker{ackers: watched}
	prober, _ := setup(t, 5*time.Second, broker)
	recent := NewRecentProbe(prober, 15*time.Second, time.Second)

	first := prober.Run(context.Background()) // e.g. an operator's POST /v1/diag/broker-probe
	require.True(t, first.OK)
	got := recent.Check(context.Background())
	require.Equal(t, first, got)
	require.Len(t, broker.probes, 1, "a fresh result is reused, nothing is published")

	// Once the result is older than the max age a new probe runs.
	recent.now = func() time.Time { return time.Now().Add(16 * time.Second) }
	got = recent.Check(context.Background())
	require.True(t, got.OK)
	require.NotEqual(t, first.ProbeID, got.ProbeID)
	require.Len(t, broker.probes, 2)
}

func TestRecentProbeUsesTheShortTimeout(t *testing.T) {
	broker := &loopbackBroker{ackers: []string{"orchestrator", "publisher"}} // extractor never acks
	prober, _ := setup(t, time.Minute, broker)
	recent := NewRecentProbe(prober, 0, 200*time.Millisecond)

	start := time.Now()
	rep := recent.Check(context.Background())
	require.Less(t, time.Since(start), 10*time.Second, "bounded by the status timeout, not the prober's minute")
	require.False(t, rep.OK)
	require.Equal(t, "not every app answered within 200ms; check the broker and the apps' logs", rep.Error)
	last, ok := prober.Last()
	require.True(t, ok)
	require.Equal(t, rep, last)
}

func TestRecentProbeSharesOneProbeBetweenCallers(t *testing.T) {
	g := &gatedBroker{loopbackBroker: &loopbackBroker{ackers: watched}, gate: make(chan struct{})}
	g.t = t
	prober := NewBrokerProber(watched, g, 5*time.Second, nil)
	g.app = newHealthApp(t, prober)
	recent := NewRecentProbe(prober, time.Minute, 5*time.Second)

	const callers = 5
	results := make([]ProbeReport, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = recent.Check(context.Background())
		}()
	}
	require.Eventually(t, func() bool { return g.published.Load() >= 1 }, 5*time.Second, 5*time.Millisecond)
	close(g.gate)
	wg.Wait()
	require.EqualValues(t, 1, g.published.Load(), "one probe for every caller")
	for _, r := range results {
		require.True(t, r.OK)
		require.Equal(t, results[0].ProbeID, r.ProbeID)
	}
}

func TestRecentProbeCallerGivesUp(t *testing.T) {
	g := &gatedBroker{loopbackBroker: &loopbackBroker{ackers: watched}, gate: make(chan struct{})}
	g.t = t
	prober := NewBrokerProber(watched, g, 5*time.Second, nil)
	g.app = newHealthApp(t, prober)
	recent := NewRecentProbe(prober, time.Minute, 5*time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan ProbeReport)
	go func() { done <- recent.Check(ctx) }()
	require.Eventually(t, func() bool { return g.published.Load() == 1 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	rep := <-done
	require.False(t, rep.OK)
	require.Contains(t, rep.Error, "the status request ended before the broker probe finished")

	// The probe itself goes on and its result serves the next caller.
	close(g.gate)
	require.Eventually(t, func() bool { _, ok := prober.Last(); return ok }, 5*time.Second, 5*time.Millisecond)
	rep = recent.Check(context.Background())
	require.True(t, rep.OK)
	require.EqualValues(t, 1, g.published.Load())
}
