package controlplane

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// rateLimiter is a fixed-window limit over all API requests, announced in
// X-RateLimit-* headers on every answer as a SaaS tenant does.
type rateLimiter struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	now    func() time.Time
	start  time.Time
	used   int
}

func newRateLimiter(limit int, window time.Duration, now func() time.Time) *rateLimiter {
	return &rateLimiter{limit: limit, window: window, now: now, start: now()}
}

// take answers the remaining requests, the window's reset time, and
// whether this request is allowed.
func (rl *rateLimiter) take() (remaining int, reset time.Time, ok bool) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	now := rl.now()
	if !now.Before(rl.start.Add(rl.window)) {
		rl.start, rl.used = now, 0
	}
	reset = rl.start.Add(rl.window)
	if rl.used >= rl.limit {
		return 0, reset, false
	}
	rl.used++
	return rl.limit - rl.used, reset, true
}

func (rl *rateLimiter) set(limit int) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	rl.limit = limit
}

func (rl *rateLimiter) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		remaining, reset, ok := rl.take()
		h := w.Header()
		h.Set("X-RateLimit-Limit", strconv.Itoa(rl.limitNow()))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		if !ok {
			wait := int(reset.Sub(rl.now())/time.Second) + 1
			h.Set("Retry-After", strconv.Itoa(wait))
			writeError(w, r, http.StatusTooManyRequests, "rate_limited", "rate limit reached; retry after "+strconv.Itoa(wait)+"s")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (rl *rateLimiter) limitNow() int {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return rl.limit
}

// SetRateLimit changes how many API requests a window allows.
func (s *Server) SetRateLimit(limit int) { s.limiter.set(limit) }
