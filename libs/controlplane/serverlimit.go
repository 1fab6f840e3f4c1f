package controlplane

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxServerPause bounds how long an X-RateLimit-Reset can hold the client, so
// a wrong clock on either side cannot stall the agent for hours.
const maxServerPause = 5 * time.Minute

// serverLimit remembers that the control plane said its quota is used up
// (X-RateLimit-Remaining: 0) and holds every request until X-RateLimit-Reset,
// instead of spending requests on certain 429s.
type serverLimit struct {
	mu    sync.Mutex
	until time.Time
}

func (s *serverLimit) observe(h http.Header, now time.Time) {
	if strings.TrimSpace(h.Get("X-RateLimit-Remaining")) != "0" {
		return
	}
	epoch, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-RateLimit-Reset")), 10, 64)
	if err != nil {
		return
	}
	reset := time.Unix(epoch, 0)
	if !reset.After(now) {
		return
	}
	if limit := now.Add(maxServerPause); reset.After(limit) {
		reset = limit
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if reset.After(s.until) {
		s.until = reset
	}
}

func (s *serverLimit) wait(ctx context.Context) error {
	s.mu.Lock()
	until := s.until
	s.mu.Unlock()
	return sleep(ctx, time.Until(until))
}
