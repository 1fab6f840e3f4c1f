package app

import "sync"

// inflight tracks the partitions this process is working on, so that a
// redelivered request waits for the running work instead of starting a
// second run of the same partition.
type inflight struct {
	mu    sync.Mutex
	calls map[string]*call
}

type call struct {
	attempt int
	done    chan struct{}
	err     error // the outcome, set before done closes
}

// begin registers work on key; when it is already running it returns that
// call and leader false.
func (f *inflight) begin(key string, attempt int) (c *call, leader bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.calls[key]; ok {
		return c, false
	}
	if f.calls == nil {
		f.calls = map[string]*call{}
	}
	c = &call{attempt: attempt, done: make(chan struct{})}
	f.calls[key] = c
	return c, true
}

// end records the outcome and releases the waiters.
func (f *inflight) end(key string, c *call, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c.err = err
	delete(f.calls, key)
	close(c.done)
}
