// Command vulngate is the vulnerability gate of `make test`: it runs
// govulncheck against the offline database on every module (source mode)
// and every built binary (binary mode), and fails when a reachable
// vulnerability is not in the reviewed allowlist, or an allowlist entry is
// malformed or expired. Vulnerabilities in code the build never calls are
// listed, not failed (govulncheck's own distinction).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Exit codes.
const (
	exitOK         = 0
	exitVulnerable = 1 // a reachable vulnerability is not allowed
	exitSetup      = 2 // the gate could not run (flags, allowlist, govulncheck)
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var c gateConfig
	var today string
	flag.StringVar(&c.govulncheck, "govulncheck", "govulncheck", "the govulncheck binary")
	flag.StringVar(&c.db, "db", "", "the offline database directory (cmd/vulndb)")
	flag.StringVar(&c.allowlist, "allowlist", "", "the reviewed allowlist (YAML)")
	flag.StringVar(&today, "today", "", "the date expiries are checked against (YYYY-MM-DD; default today, UTC)")
	flag.IntVar(&c.parallel, "parallel", 2, "govulncheck runs at once")
	flag.Var((*multiFlag)(&c.modules), "module", "a module directory to scan in source mode (repeatable)")
	flag.Var((*multiFlag)(&c.binaries), "binary", "a binary to scan (repeatable)")
	flag.Parse()
	c.today = time.Now().UTC()
	if today != "" {
		t, err := time.Parse(time.DateOnly, today)
		if err != nil {
			fmt.Fprintf(os.Stderr, "vulngate: -today %q is not YYYY-MM-DD\n", today)
			os.Exit(exitSetup)
		}
		c.today = t
	}
	os.Exit(gate(ctx, c, os.Stdout, os.Stderr))
}
