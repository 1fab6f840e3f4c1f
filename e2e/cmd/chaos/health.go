package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
)

// victims are every process of the stack a kill may pick, sorted: the
// apps, their sidecars and the broker and Dapr control plane, not the
// reference control plane (not part of the agent).
func victims(s *stack.Stack) []string {
	var out []string
	for name := range s.Pids() {
		if name != "controlplane" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// healthy checks one process of the stack the way the launcher does at
// start: an app or sidecar by its app's health (the sidecar healthy with
// its components and its app connected, the app ready), NATS by its port,
// sentry, placement and scheduler by their healthz endpoints.
func healthy(ctx context.Context, s *stack.Stack, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	p := s.Ports()
	switch name {
	case "nats":
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", p.NATS))
		if err != nil {
			return err
		}
		return c.Close()
	case "sentry":
		return httpOK(ctx, fmt.Sprintf("http://127.0.0.1:%d/healthz", p.SentryHealthz))
	case "placement":
		return httpOK(ctx, fmt.Sprintf("http://127.0.0.1:%d/healthz", p.PlacementHealthz))
	case "scheduler":
		return httpOK(ctx, fmt.Sprintf("http://127.0.0.1:%d/healthz", p.SchedulerHealthz))
	}
	_, err := s.Health(ctx, strings.TrimSuffix(name, "-dapr"))
	return err
}

func httpOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}

// waitBack waits until the supervisor has started name again (a pid other
// than before) and it is healthy, and returns when it was first seen so.
func waitBack(ctx context.Context, s *stack.Stack, name string, before int, bound time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	var last error = fmt.Errorf("%s was not started again", name)
	for {
		if pid := s.Pids()[name]; pid != before && pid != 0 && syscall.Kill(pid, 0) == nil {
			if last = healthy(ctx, s, name); last == nil {
				return time.Now(), nil
			}
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%s not back and healthy within %s: %v", name, bound, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// settle waits until every process of the stack is healthy, so each
// round starts from a whole stack and no kill's aftermath spills into
// the next.
func settle(ctx context.Context, s *stack.Stack, bound time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	for {
		var bad []string
		for _, name := range victims(s) {
			if strings.HasSuffix(name, "-dapr") {
				continue // checked with its app
			}
			if err := healthy(ctx, s, name); err != nil {
				bad = append(bad, fmt.Sprintf("%s: %v", name, err))
			}
		}
		if len(bad) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the stack is not healthy after %s: %s", bound, strings.Join(bad, "; "))
		case <-time.After(250 * time.Millisecond):
		}
	}
}
