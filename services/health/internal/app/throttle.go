package app

import (
	"sync"
	"time"
)

// throttle spaces out warnings about a failure that repeats (the control
// plane being down): the first one is logged, then one per period with how
// many were held back.
type throttle struct {
	period time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
	failing    bool
}

// fail records a failure at now; log says whether to log it, and held how
// many failures went unlogged before it.
func (t *throttle) fail(now time.Time) (log bool, held int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failing = true
	if !t.last.IsZero() && now.Sub(t.last) < t.period {
		t.suppressed++
		return false, 0
	}
	held, t.suppressed, t.last = t.suppressed, 0, now
	return true, held
}

// ok records a success and says whether it ends a run of failures.
func (t *throttle) ok() (recovered bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	recovered, t.failing = t.failing, false
	t.last, t.suppressed = time.Time{}, 0
	return recovered
}
