package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
)

// defaultPortBase lies below Linux's ephemeral port range (32768–60999 by
// default): the stack's processes restart hundreds of times in a run, and
// a port in that range may be taken, between a kill and the restart, as
// the local port of some outgoing connection, so the restarted process
// cannot bind it.
const defaultPortBase = 14000

// ephemeralOverlap says when the stack's ports [base, base+PortSpan)
// overlap the kernel's ephemeral port range, or "" if they do not.
func ephemeralOverlap(base int) string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return ""
	}
	var lo, hi int
	if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &lo, &hi); err != nil {
		return ""
	}
	if base+stack.PortSpan <= lo || base > hi {
		return ""
	}
	return fmt.Sprintf("ports %d-%d overlap the ephemeral port range %d-%d: an outgoing connection may hold one when a killed process restarts, and the restart fails until it is free; a base of at most %d avoids that",
		base, base+stack.PortSpan-1, lo, hi, lo-stack.PortSpan)
}
