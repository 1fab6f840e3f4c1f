package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// planCmd runs a job spec as a dry run and prints its change set: what
// the run would ship and delete, and the fail-safes that would hold
// deletions back, without uploading anything.
type planCmd struct {
	runCmd
	jobID string
}

func (c *planCmd) name() string { return "plan" }
func (c *planCmd) synopsis() string {
	return "run a job spec as a dry run and print what it would change in the catalog (+ created, ~ updated, - deleted); nothing is uploaded"
}

func (c *planCmd) define(fs *flag.FlagSet) {
	c.orch.define(fs)
	fs.BoolVar(&c.jsonOut, "json", false, "print the plan as JSON (job.Plan) on stdout")
	c.poll = durationFlag(500 * time.Millisecond)
	fs.Var(&c.poll, "poll", "ask for the job's status every `duration`")
	fs.Var(&c.timeout, "timeout", "stop waiting after `duration` (the dry run keeps running; exit 1); 0 waits for ever")
	fs.StringVar(&c.jobID, "job", "", "print the plan of this finished dry run instead of running SPEC")
	c.wait = true
}

func (c *planCmd) argsUsage() string { return "SPEC | --job ID" }

func (c *planCmd) setArgs(args []string) []string {
	if len(args) == 0 {
		return nil // checked in validate, once --job is known
	}
	return c.runCmd.setArgs(args)
}

func (c *planCmd) validate(env *Env) []string {
	problems := c.runCmd.validate(env)
	switch {
	case c.jobID == "" && c.spec == "":
		problems = append(problems, "SPEC is required: a job spec file (YAML or JSON; see docs/jobs.md), or - for stdin; or --job ID for a finished dry run's plan")
	case c.jobID != "" && c.spec != "":
		problems = append(problems, "give SPEC or --job ID, not both")
	}
	return problems
}

// printPlan fetches and prints a finished dry run's plan.
func (c *planCmd) printPlan(ctx context.Context, env *Env, id string) error {
	p, err := c.orch.client.plan(ctx, id)
	if err != nil {
		return fmt.Errorf("read the plan of dry run %s: %w", id, err)
	}
	if c.jsonOut {
		return writeJSONLine(env.Stdout, p)
	}
	return writePlan(env.Stdout, p)
}

func (c *planCmd) run(ctx context.Context, env *Env) error {
	if c.jobID != "" {
		return c.printPlan(ctx, env, c.jobID)
	}
	data, src, err := c.readSpec(env)
	if err != nil {
		return &codedError{code: ExitUsage, err: err}
	}
	spec, err := job.ParseSpec(data)
	if err != nil {
		return &codedError{code: ExitUsage, err: fmt.Errorf("%s: %w", src, err)}
	}
	spec.DryRun = true
	spec.Schedule = nil // the plan of a scheduled spec is what its next run would change
	body, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("encode the dry run of %s: %w", src, err)
	}
	sub, err := c.orch.client.submit(ctx, body)
	if err != nil {
		return fmt.Errorf("submit the dry run of %s: %w", src, err)
	}
	fmt.Fprintf(env.Stderr, "dry run %s submitted; nothing is uploaded (Ctrl-C stops watching, not the run)\n", sub.ID)
	st, err := watchJob(ctx, env, c.orch.client, sub.ID, time.Duration(c.poll), time.Duration(c.timeout), unreachableGrace)
	switch {
	case errors.Is(err, errInterrupted):
		fmt.Fprintf(env.Stderr, "\nstopped watching dry run %s; it keeps running. Its plan, once it succeeded: agentctl plan --job %s\n",
			sub.ID, sub.ID)
		return &reportedError{msg: "interrupted", code: ExitInterrupted}
	case errors.Is(err, errWatchTimeout):
		return fmt.Errorf("stopped waiting after %s: dry run %s is still %s; follow it with `agentctl status %s`",
			time.Duration(c.timeout), sub.ID, stateText(st), sub.ID)
	case err != nil:
		return err
	}
	if st.State != job.Succeeded {
		return c.report(env, st)
	}
	return c.printPlan(ctx, env, sub.ID)
}

// opMarks are the plan's change marks, as Terraform prints them.
var opMarks = map[string]string{"created": "+", "updated": "~", "deleted": "-"}

// writePlan prints a plan for people: one line per change, the fail-safes
// that would hold deletions back, and the totals.
func writePlan(w io.Writer, p job.Plan) error {
	var b strings.Builder
	base := "the connection's first run: everything is created"
	if p.Base != "" {
		base = "compared with job " + p.Base
	}
	fmt.Fprintf(&b, "Plan for connection %s (mode %s, %s):\n", p.Connection, p.Mode, base)
	width := 0
	for _, it := range p.Items {
		width = max(width, len(it.Kind))
	}
	for _, it := range p.Items {
		fmt.Fprintf(&b, "  %s %-*s %s", opMarks[it.Op], width, it.Kind, printable(it.QualifiedName))
		switch {
		case len(it.Attributes) > 0:
			fmt.Fprintf(&b, "  (%s)", strings.Join(it.Attributes, ", "))
		case it.Reason != "":
			fmt.Fprintf(&b, "  (%s)", reasonText[it.Reason])
		}
		b.WriteByte('\n')
	}
	if len(p.Items) == 0 {
		b.WriteString("  no changes to ship: the catalog is up to date\n")
	}
	for _, fs := range p.FailSafes {
		fmt.Fprintf(&b, "Fail-safe %s would withhold deletions: %s\n", fs.Name, fs.Message)
	}
	for _, warn := range p.Warnings {
		if !strings.HasPrefix(warn, "fail-safe ") {
			fmt.Fprintf(&b, "Note: %s\n", warn)
		}
	}
	t := changeTotals(p.Changes)
	fmt.Fprintf(&b, "Plan: %d to create, %d to update, %d to delete, %d unchanged", t.Created, t.Updated, t.Deleted, t.Unchanged)
	if t.Withheld > 0 {
		fmt.Fprintf(&b, ", %d deletion(s) withheld", t.Withheld)
	}
	b.WriteString(".\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// reasonText says why an asset is deleted.
var reasonText = map[string]string{
	model.ReasonDropped:    "dropped in the source",
	model.ReasonExcluded:   "newly excluded by the job's filters or databases",
	model.ReasonNotVisible: "no longer visible to the agent's user",
}

// changeTotals sums a run's changes over the kinds.
func changeTotals(changes map[model.Kind]model.ChangeCounts) model.ChangeCounts {
	var t model.ChangeCounts
	for _, k := range slices.Sorted(maps.Keys(changes)) {
		c := changes[k]
		t.Created, t.Updated, t.Deleted, t.Unchanged, t.Withheld = t.Created+c.Created, t.Updated+c.Updated,
			t.Deleted+c.Deleted, t.Unchanged+c.Unchanged, t.Withheld+c.Withheld
	}
	return t
}

// changesText says what a finished run did to the catalog, e.g.
// "incremental: 3 created, 1 updated, 2 deleted, 440 unchanged".
func changesText(st job.Status) string {
	t := changeTotals(st.Changes)
	out := fmt.Sprintf("%s: %d created, %d updated, %d deleted, %d unchanged", st.Mode, t.Created, t.Updated, t.Deleted, t.Unchanged)
	if t.Withheld > 0 {
		out += fmt.Sprintf(", %d deletion(s) withheld by a fail-safe (see the warnings)", t.Withheld)
	}
	if st.DryRun {
		out += " (dry run: nothing was shipped; agentctl plan --job " + st.ID + ")"
	}
	return out
}
