package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/secure-agent/secure-agent/libs/job"
)

// schedulesCmd lists the orchestrator's job schedules, adds (or replaces)
// one from a scheduled spec, or deletes one.
type schedulesCmd struct {
	orch    orchestratorFlags
	jsonOut bool
	action  string // "", "add" or "delete"
	arg     string
}

func (c *schedulesCmd) name() string { return "schedules" }
func (c *schedulesCmd) synopsis() string {
	return "list job schedules with their last and next run; `schedules add SPEC` registers (or replaces) a scheduled spec, `schedules delete NAME` removes one"
}
func (c *schedulesCmd) argsUsage() string { return "[add SPEC | delete NAME]" }

func (c *schedulesCmd) define(fs *flag.FlagSet) {
	c.orch.define(fs)
	fs.BoolVar(&c.jsonOut, "json", false, "print JSON on stdout: the list (job.ScheduleList), or the schedule added")
}

func (c *schedulesCmd) setArgs(args []string) []string {
	if len(args) == 0 {
		return nil
	}
	c.action = args[0]
	switch {
	case c.action != "add" && c.action != "delete":
		return []string{fmt.Sprintf("%q is not a schedules action: use `schedules` to list, `schedules add SPEC` or `schedules delete NAME`", c.action)}
	case len(args) != 2 && c.action == "add":
		return []string{"schedules add takes one SPEC: a job spec file with a schedule (YAML or JSON; see docs/jobs.md), or - for stdin"}
	case len(args) != 2:
		return []string{"schedules delete takes one NAME: the schedule's name as `agentctl schedules` lists it"}
	}
	c.arg = args[1]
	return nil
}

func (c *schedulesCmd) validate(env *Env) []string {
	problems := c.orch.validate(env)
	if c.action == "delete" && !job.ScheduleNamePattern.MatchString(c.arg) {
		problems = append(problems, fmt.Sprintf("%q is not a schedule name (1 to 63 lowercase letters, digits or '-')", c.arg))
	}
	return problems
}

func (c *schedulesCmd) run(ctx context.Context, env *Env) error {
	switch c.action {
	case "add":
		return c.add(ctx, env)
	case "delete":
		err := c.orch.client.do(ctx, http.MethodDelete, "/v1/schedules/"+url.PathEscape(c.arg), nil, "", nil, http.StatusNoContent, http.StatusOK)
		var api *apiError
		if errors.As(err, &api) && api.Status == http.StatusNotFound {
			return fmt.Errorf("schedule %s does not exist; `agentctl schedules` lists them", c.arg)
		}
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(env.Stdout, "schedule %s deleted; runs it started are not affected\n", c.arg)
		return err
	}
	var l job.ScheduleList
	if err := c.orch.client.do(ctx, http.MethodGet, "/v1/schedules", nil, "", &l, http.StatusOK); err != nil {
		return err
	}
	if l.Schedules == nil {
		l.Schedules = []job.ScheduleStatus{}
	}
	if c.jsonOut {
		return writeJSONLine(env.Stdout, l)
	}
	if len(l.Schedules) == 0 {
		fmt.Fprintln(env.Stderr, "no schedules yet; add one with: agentctl schedules add SPEC (a spec with schedule: {cron: ..., time_zone: ...} or {every: ...})")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCONNECTION\tSCHEDULE\tNEXT RUN\tLAST RUN\tRUNS\tSKIPPED")
	for _, s := range l.Schedules {
		next := s.NextRun
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\n", oneLine(s.Name), oneLine(s.Connection), oneLine(s.Description),
			fmtTime(&next), lastRun(s.LastRun), s.Started, s.Skipped)
	}
	return tw.Flush()
}

// lastRun is a schedule's last fire: when, and the job it started or why
// it started none.
func lastRun(f *job.ScheduleFire) string {
	if f == nil {
		return "-"
	}
	at := f.At
	switch f.Outcome {
	case job.FireStarted:
		return fmtTime(&at) + " " + oneLine(f.JobID)
	default:
		return fmtTime(&at) + " skipped: " + oneLine(f.Reason)
	}
}

func (c *schedulesCmd) add(ctx context.Context, env *Env) error {
	r := runCmd{spec: c.arg}
	data, src, err := r.readSpec(env)
	if err != nil {
		return &codedError{code: ExitUsage, err: err}
	}
	spec, err := job.ParseSpec(data)
	if err != nil {
		return &codedError{code: ExitUsage, err: fmt.Errorf("%s: %w", src, err)}
	}
	if spec.Schedule == nil {
		return &codedError{code: ExitUsage, err: fmt.Errorf("%s has no schedule: add schedule: {cron: \"0 2 * * *\", time_zone: Europe/Berlin} "+
			"or schedule: {every: 6h} (docs/jobs.md), or run it once with `agentctl run %s`", src, c.arg)}
	}
	var st job.ScheduleStatus
	if err := c.orch.client.do(ctx, http.MethodPost, "/v1/schedules", data, specContentType(data), &st, http.StatusCreated, http.StatusOK); err != nil {
		return fmt.Errorf("add schedule from %s: %w", src, err)
	}
	if c.jsonOut {
		return writeJSONLine(env.Stdout, st)
	}
	_, err = fmt.Fprintf(env.Stdout, "schedule %s (%s): next run %s (in %s)\n", st.Name, st.Description,
		fmtTime(&st.NextRun), fmtDuration(st.NextRun.Sub(env.Now()).Round(time.Second)))
	return err
}
