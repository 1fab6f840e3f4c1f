package app

import (
	"context"
	"sync"
	"time"
)

// RecentProbe answers the status page's broker question cheaply: the
// latest probe's result while it is fresh, otherwise a new probe with a
// short timeout. Callers arriving while a probe runs share it, so a burst
// of status requests sends one probe, not one each.
type RecentProbe struct {
	prober  *BrokerProber
	maxAge  time.Duration
	timeout time.Duration
	now     func() time.Time

	mu       sync.Mutex
	inflight chan struct{}
	result   ProbeReport
}

// NewRecentProbe reuses results up to maxAge old and bounds a new probe
// by timeout.
func NewRecentProbe(prober *BrokerProber, maxAge, timeout time.Duration) *RecentProbe {
	return &RecentProbe{prober: prober, maxAge: maxAge, timeout: timeout, now: time.Now}
}

// Check returns a probe result no older than maxAge, or the error of a
// caller that gave up waiting.
func (p *RecentProbe) Check(ctx context.Context) ProbeReport {
	if last, ok := p.prober.Last(); ok && p.now().Sub(last.CheckedAt) <= p.maxAge {
		return last
	}
	p.mu.Lock()
	ch := p.inflight
	if ch == nil {
		ch = make(chan struct{})
		p.inflight = ch
		// The probe outlives the caller that started it: others may wait
		// for it. It is bounded by the timeout alone.
		go p.probe(context.WithoutCancel(ctx), ch)
	}
	p.mu.Unlock()
	select {
	case <-ch:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.result
	case <-ctx.Done():
		return ProbeReport{
			Error:     "the status request ended before the broker probe finished: " + ctx.Err().Error(),
			CheckedAt: p.now().UTC(),
		}
	}
}

func (p *RecentProbe) probe(ctx context.Context, done chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	rep := p.prober.run(ctx, p.timeout)
	p.mu.Lock()
	p.result = rep
	p.inflight = nil
	p.mu.Unlock()
	close(done)
}
