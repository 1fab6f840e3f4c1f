package cli

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"text/tabwriter"

	"github.com/secure-agent/secure-agent/libs/job"
)

// listCmd lists recent jobs, newest first.
type listCmd struct {
	orch    orchestratorFlags
	limit   positiveInt
	jsonOut bool
}

func (c *listCmd) name() string     { return "list" }
func (c *listCmd) synopsis() string { return "list recent jobs, newest first" }

func (c *listCmd) define(fs *flag.FlagSet) {
	c.orch.define(fs)
	c.limit = 20
	fs.Var(&c.limit, "limit", "show at most `N` jobs")
	fs.BoolVar(&c.jsonOut, "json", false, "print the list as JSON")
}

// maxListLimit keeps one answer small; the orchestrator may cap it lower.
const maxListLimit = 1000

func (c *listCmd) validate(env *Env) []string {
	problems := c.orch.validate(env)
	if c.limit > maxListLimit {
		problems = append(problems, fmt.Sprintf("--limit %d: use at most %d", c.limit, maxListLimit))
	}
	return problems
}

func (c *listCmd) run(ctx context.Context, env *Env) error {
	l, err := c.orch.client.list(ctx, int(c.limit))
	if err != nil {
		return err
	}
	// Newest first whatever order the answer came in.
	sort.SliceStable(l.Jobs, func(i, j int) bool { return l.Jobs[i].SubmittedAt.After(l.Jobs[j].SubmittedAt) })
	if len(l.Jobs) > int(c.limit) {
		l.Jobs = l.Jobs[:c.limit]
	}
	if l.Jobs == nil {
		l.Jobs = []job.Status{}
	}
	if c.jsonOut {
		return writeJSONLine(env.Stdout, l)
	}
	if len(l.Jobs) == 0 {
		fmt.Fprintln(env.Stderr, "no jobs yet; submit one with: agentctl run SPEC")
		return nil
	}
	now := env.Now()
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tCONNECTION\tASSETS\tSUBMITTED\tDURATION")
	for _, st := range l.Jobs {
		d := fmtDuration(jobElapsed(st, now))
		if !st.State.Terminal() {
			d += " so far"
		}
		sub := st.SubmittedAt
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", oneLine(st.ID), stateText(st), oneLine(st.Connection), st.Assets, fmtTime(&sub), d)
	}
	return tw.Flush()
}
