package controlplane

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FaultKind names an injected failure.
type FaultKind string

// The injectable failures.
const (
	// FaultRateLimit answers 429 with Retry-After.
	FaultRateLimit FaultKind = "rate_limit"
	// FaultServerError answers a 5xx (503 carries Retry-After).
	FaultServerError FaultKind = "server_error"
	// FaultSlow delays the answer, then serves the request normally.
	FaultSlow FaultKind = "slow"
	// FaultDrop closes the connection without an answer.
	FaultDrop FaultKind = "drop"
)

// Fault is one injected failure for the next Count matching requests.
type Fault struct {
	Kind FaultKind
	// Count of requests it hits; 0 means 1.
	Count int
	// PathPrefix limits it to requests whose path starts with it (e.g.
	// /api/agent/v1/work or the token path); empty matches every request.
	PathPrefix string
	// RetryAfter for 429 and 503, whole seconds; 0 means 1s.
	RetryAfter time.Duration
	// Status for FaultServerError; default 503.
	Status int
	// Delay for FaultSlow.
	Delay time.Duration
}

func (f *Fault) validate() error {
	if f.Count == 0 {
		f.Count = 1
	}
	if f.Count < 0 {
		return errors.New("count must be 0 or more")
	}
	switch f.Kind {
	case FaultRateLimit, FaultDrop:
	case FaultServerError:
		if f.Status == 0 {
			f.Status = http.StatusServiceUnavailable
		}
		if f.Status < 500 || f.Status > 599 {
			return fmt.Errorf("status %d is not a 5xx", f.Status)
		}
	case FaultSlow:
		if f.Delay <= 0 {
			return errors.New("a slow fault needs a positive delay")
		}
	default:
		return fmt.Errorf("unknown fault kind %q (use rate_limit, server_error, slow or drop)", f.Kind)
	}
	if f.RetryAfter <= 0 {
		f.RetryAfter = time.Second
	}
	return nil
}

// Counters are what the server saw: requests per path and faults injected.
type Counters struct {
	Requests map[string]int    `json:"requests"`
	Faults   map[FaultKind]int `json:"faults"`
}

type faultInjector struct {
	mu       sync.Mutex
	pending  []*Fault
	requests map[string]int
	injected map[FaultKind]int
}

func newFaultInjector() *faultInjector {
	return &faultInjector{requests: map[string]int{}, injected: map[FaultKind]int{}}
}

// take counts the request and returns the first pending fault matching it.
func (fi *faultInjector) take(path string) *Fault {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.requests[path]++
	for i, f := range fi.pending {
		if !strings.HasPrefix(path, f.PathPrefix) {
			continue
		}
		hit := *f
		f.Count--
		if f.Count == 0 {
			fi.pending = append(fi.pending[:i], fi.pending[i+1:]...)
		}
		fi.injected[hit.Kind]++
		return &hit
	}
	return nil
}

func (fi *faultInjector) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := fi.take(r.URL.Path)
		if f == nil {
			next.ServeHTTP(w, r)
			return
		}
		retryAfter := strconv.Itoa(int((f.RetryAfter + time.Second - 1) / time.Second))
		switch f.Kind {
		case FaultRateLimit:
			w.Header().Set("Retry-After", retryAfter)
			writeError(w, r, http.StatusTooManyRequests, "rate_limited", "too many requests; retry after "+retryAfter+"s")
		case FaultServerError:
			if f.Status == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", retryAfter)
			}
			writeError(w, r, f.Status, "server_error", "injected server error")
		case FaultSlow:
			t := time.NewTimer(f.Delay)
			defer t.Stop()
			select {
			case <-t.C:
				next.ServeHTTP(w, r)
			case <-r.Context().Done():
				// The client gave up; answering now would look like success.
				dropConn(w, r)
			}
		case FaultDrop:
			dropConn(w, r)
		}
	})
}

// dropConn closes the connection without an answer.
func dropConn(w http.ResponseWriter, r *http.Request) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		writeError(w, r, http.StatusInternalServerError, "server_error", "cannot drop this connection")
		return
	}
	if conn, _, err := hj.Hijack(); err == nil {
		_ = conn.Close()
	}
}

// Inject queues a fault for the next matching requests. Faults are taken
// in the order injected; one request takes at most one.
func (s *Server) Inject(f Fault) error {
	if err := f.validate(); err != nil {
		return fmt.Errorf("controlplane: inject fault: %w", err)
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.pending = append(s.faults.pending, &f)
	return nil
}

// ClearFaults drops every pending fault.
func (s *Server) ClearFaults() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.pending = nil
}

// PendingFaults lists faults not yet used up, with their remaining counts.
func (s *Server) PendingFaults() []Fault {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	out := make([]Fault, 0, len(s.faults.pending))
	for _, f := range s.faults.pending {
		out = append(out, *f)
	}
	return out
}

// Counters copies the request and fault counters.
func (s *Server) Counters() Counters {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	c := Counters{Requests: map[string]int{}, Faults: map[FaultKind]int{}}
	for k, v := range s.faults.requests {
		c.Requests[k] = v
	}
	for k, v := range s.faults.injected {
		c.Faults[k] = v
	}
	return c
}
