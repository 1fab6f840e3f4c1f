package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// preflightCmd checks a source before an extraction: connection,
// authentication, privileges and what each filter matches.
type preflightCmd struct {
	src     sourceFlags
	jsonOut bool
}

func (c *preflightCmd) name() string { return "preflight" }
func (c *preflightCmd) synopsis() string {
	return "check a source (connection, version, privileges, filters); exit 1 if a check fails"
}

func (c *preflightCmd) define(fs *flag.FlagSet) {
	c.src.define(fs)
	fs.BoolVar(&c.jsonOut, "json", false, "print the checks as a JSON array")
}

func (c *preflightCmd) validate(env *Env) []string { return c.src.validate(env) }

func (c *preflightCmd) run(ctx context.Context, env *Env) error {
	checks := c.checks(ctx, env)
	var err error
	if c.jsonOut {
		err = json.NewEncoder(env.Stdout).Encode(checks)
	} else {
		err = printChecks(env.Stdout, checks)
	}
	if err != nil {
		return fmt.Errorf("write the checks: %w", err)
	}
	failed := 0
	for _, ch := range checks {
		if ch.Status == connector.Fail {
			failed++
		}
	}
	if failed > 0 {
		fmt.Fprintf(env.Stderr, "agentctl preflight: %d of %d checks failed; see the remediation column\n", failed, len(checks))
		return &reportedError{msg: "preflight failed"}
	}
	return nil
}

// checks opens the source and runs its preflight. A source that cannot be
// opened at all is reported as one failed check, so the output has the
// same shape whatever went wrong.
func (c *preflightCmd) checks(ctx context.Context, env *Env) []connector.Check {
	conn, err := env.Registry.Open(ctx, c.src.source, c.src.creds)
	if err != nil {
		return []connector.Check{{
			Name: "connect", Status: connector.Fail, Detail: err.Error(),
			Remediation: "fix the DSN, credentials or network path named above and run preflight again",
		}}
	}
	defer conn.Close()
	return conn.Preflight(ctx)
}

func printChecks(w io.Writer, checks []connector.Check) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSTATUS\tDETAIL\tREMEDIATION")
	for _, ch := range checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", oneLine(ch.Name), strings.ToUpper(string(ch.Status)), oneLine(ch.Detail), oneLine(ch.Remediation))
	}
	return tw.Flush()
}

// oneLine keeps a table row on one line (details may quote server messages).
func oneLine(s string) string {
	s = printable(strings.NewReplacer("\r\n", " ", "\n", " ", "\t", " ").Replace(s))
	if s == "" {
		return "-"
	}
	return s
}
