// Package gctune sets the garbage collector's target for the processes
// that encode Arrow with zstd (ADR 0016).
//
// Every zstd encoder Arrow's IPC writer creates reserves a 16 MiB history
// buffer (an 8 MiB window plus as much again) of which a batch touches
// only its own bytes. The collector counts the whole reservation as live
// heap, so at the default GOGC of 100 it lets garbage grow by as much
// again before it runs: with one encoder per asset kind, an extraction's
// resident memory grew with the catalog until it reached that inflated
// goal (agentctl on 50,000 tables: 180 MiB, against 86 MiB on 10,000). A
// lower percentage bounds the garbage by a fraction of that instead; the
// collector's extra cycles mark little, since the reservations hold no
// pointers.
package gctune

import (
	"fmt"
	"runtime/debug"
)

// DefaultPercent is the GOGC the extractor, the publisher and agentctl
// extract run with unless GOGC is set: measured on 10,000 and 50,000
// tables, it kept agentctl extract's peak RSS at 82 and 114 MiB for no
// more time (docs/operations.md).
const DefaultPercent = 25

// LookupEnv is os.LookupEnv.
type LookupEnv func(string) (string, bool)

// Apply sets the collector's target percentage to percent unless the
// environment sets GOGC (the operator's choice wins) and returns what it
// did, for the log.
func Apply(env LookupEnv, percent int) string {
	if v, ok := env("GOGC"); ok {
		return fmt.Sprintf("GOGC=%s from the environment", v)
	}
	debug.SetGCPercent(percent)
	return fmt.Sprintf("GOGC=%d (the default for Arrow encoding; set GOGC to override)", percent)
}
