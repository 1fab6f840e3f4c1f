package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"golang.org/x/time/rate"
)

// errEgressRefused marks a request or dial to a host outside the allowlist.
var errEgressRefused = errors.New("host is not on the egress allowlist")

// errRateLimitWait marks a request that could not get an egress token before
// its context ended; it is not a connection failure and is not retried.
var errRateLimitWait = errors.New("egress rate limit wait")

// allowlist matches host names exactly (case-insensitive) or, for entries
// "*.example.com", any subdomain of example.com.
type allowlist struct {
	exact    map[string]bool
	suffixes []string
}

func newAllowlist(hosts []string) allowlist {
	a := allowlist{exact: map[string]bool{}}
	for _, h := range hosts {
		h = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(h), "."))
		if rest, ok := strings.CutPrefix(h, "*."); ok {
			a.suffixes = append(a.suffixes, "."+rest)
			continue
		}
		a.exact[h] = true
	}
	return a
}

func (a allowlist) allows(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" {
		return false
	}
	if a.exact[host] {
		return true
	}
	for _, s := range a.suffixes {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// guard refuses egress in two places: RoundTrip checks the request's target
// (which covers redirects, since each hop is a new request, and proxied
// requests, whose dial goes to the proxy), and the dialer checks every
// address actually dialed, so nothing reaches the network unchecked.
type guard struct {
	hosts     allowlist
	proxyHost string
	refused   func(ctx context.Context, host string)
}

func (g *guard) refuse(ctx context.Context, host string) error {
	g.refused(ctx, host)
	return fmt.Errorf("refused connection to %q: %w (add it to the allowed hosts if the agent should reach it)", host, errEgressRefused)
}

func (g *guard) dialContext(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("dial %q: %w", addr, err)
		}
		if !g.hosts.allows(host) && !(g.proxyHost != "" && strings.EqualFold(host, g.proxyHost)) {
			return nil, g.refuse(ctx, host)
		}
		return d.DialContext(ctx, network, addr)
	}
}

type guardedTransport struct {
	base    http.RoundTripper
	guard   *guard
	limiter *rate.Limiter
}

func (t *guardedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" {
		closeBody(req)
		return nil, t.guard.refuse(req.Context(), req.URL.Scheme+"://"+req.URL.Host)
	}
	if !t.guard.hosts.allows(req.URL.Hostname()) {
		closeBody(req)
		return nil, t.guard.refuse(req.Context(), req.URL.Hostname())
	}
	if err := t.limiter.Wait(req.Context()); err != nil {
		closeBody(req)
		return nil, fmt.Errorf("%w: %w", errRateLimitWait, err)
	}
	return t.base.RoundTrip(req)
}

// closeBody honours the RoundTripper contract: the request body is closed
// even when the request is never sent.
func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}
