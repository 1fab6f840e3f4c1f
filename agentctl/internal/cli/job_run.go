package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/secure-agent/secure-agent/libs/job"
)

// runCmd submits a job spec to the orchestrator and, with --wait, watches
// it to the end.
type runCmd struct {
	orch    orchestratorFlags
	wait    bool
	jsonOut bool
	poll    durationFlag
	timeout durationFlag
	spec    string
}

func (c *runCmd) name() string { return "run" }
func (c *runCmd) synopsis() string {
	return "submit a job spec (file, or - for stdin) to the stack and print its id; --wait follows it to the end"
}
func (c *runCmd) argsUsage() string { return "SPEC" }

func (c *runCmd) define(fs *flag.FlagSet) {
	c.orch.define(fs)
	fs.BoolVar(&c.wait, "wait", false, "watch the job until it ends (progress on stderr); exit 0 succeeded, 1 failed, 3 cancelled")
	fs.BoolVar(&c.jsonOut, "json", false, "print JSON on stdout: the submitted job, or with --wait its final status")
	c.poll = durationFlag(500 * time.Millisecond)
	fs.Var(&c.poll, "poll", "with --wait, ask for the job's status every `duration`")
	fs.Var(&c.timeout, "timeout", "with --wait, stop waiting after `duration` (the job keeps running; exit 1); 0 waits for ever")
}

func (c *runCmd) setArgs(args []string) []string {
	switch len(args) {
	case 0:
		return []string{"SPEC is required: a job spec file (YAML or JSON; see docs/jobs.md), or - to read it from stdin"}
	case 1:
		c.spec = args[0]
		return nil
	}
	return []string{fmt.Sprintf("give one SPEC; found %d arguments: %s", len(args), strings.Join(args, " "))}
}

func (c *runCmd) validate(env *Env) []string {
	problems := c.orch.validate(env)
	if p := time.Duration(c.poll); p < 100*time.Millisecond || p > time.Minute {
		problems = append(problems, fmt.Sprintf("--poll %s: use 100ms to 1m", p))
	}
	if c.timeout > 0 && !c.wait {
		problems = append(problems, "--timeout applies only with --wait")
	}
	return problems
}

func (c *runCmd) run(ctx context.Context, env *Env) error {
	data, src, err := c.readSpec(env)
	if err != nil {
		return &codedError{code: ExitUsage, err: err}
	}
	// The orchestrator validates too; checking here lists every mistake
	// before anything is sent, and works without a stack.
	spec, err := job.ParseSpec(data)
	if err != nil {
		return &codedError{code: ExitUsage, err: fmt.Errorf("%s: %w", src, err)}
	}
	if spec.Schedule != nil {
		return &codedError{code: ExitUsage, err: fmt.Errorf("%s has a schedule (%s): register it with `agentctl schedules add %s`, "+
			"or remove schedule to run it once now", src, spec.Schedule, c.spec)}
	}
	sub, err := c.orch.client.submit(ctx, data)
	if err != nil {
		return fmt.Errorf("submit %s: %w", src, err)
	}
	if !c.wait {
		if c.jsonOut {
			return writeJSONLine(env.Stdout, sub)
		}
		_, err := fmt.Fprintln(env.Stdout, sub.ID)
		return err
	}
	if !c.jsonOut {
		fmt.Fprintln(env.Stdout, sub.ID)
	}
	fmt.Fprintf(env.Stderr, "job %s submitted; watching it (Ctrl-C stops watching, not the job)\n", sub.ID)
	st, err := watchJob(ctx, env, c.orch.client, sub.ID, time.Duration(c.poll), time.Duration(c.timeout), unreachableGrace)
	switch {
	case errors.Is(err, errInterrupted):
		fmt.Fprintf(env.Stderr, "\nstopped watching job %s; it keeps running. Cancel it with: agentctl cancel %s\n", sub.ID, sub.ID)
		return &reportedError{msg: "interrupted", code: ExitInterrupted}
	case errors.Is(err, errWatchTimeout):
		return fmt.Errorf("stopped waiting after %s: job %s is still %s and keeps running; follow it with `agentctl status %s` or stop it with `agentctl cancel %s`",
			time.Duration(c.timeout), sub.ID, stateText(st), sub.ID, sub.ID)
	case err != nil:
		return err
	}
	return c.report(env, st)
}

// report prints the job's outcome and returns what sets the exit code.
func (c *runCmd) report(env *Env, st job.Status) error {
	out := env.Stdout
	if c.jsonOut {
		if err := writeJSONLine(env.Stdout, st); err != nil {
			return err
		}
		out = env.Stderr // the verdict stays readable, stdout stays JSON
	}
	for _, l := range warningLines(st) {
		fmt.Fprintln(out, l)
	}
	switch st.State {
	case job.Succeeded:
		for _, l := range manifestLines(st.Manifest, c.orch.local, c.orch.destDir) {
			fmt.Fprintln(out, l)
		}
		if st.Mode != "" {
			fmt.Fprintln(out, "changes: "+changesText(st))
		}
		fmt.Fprintf(out, "job %s succeeded: %d assets in %s\n", st.ID, st.Assets, fmtDuration(jobElapsed(st, env.Now())))
		return nil
	case job.Cancelled:
		fmt.Fprintf(out, "job %s cancelled\n", st.ID)
		return &reportedError{msg: "cancelled", code: ExitCancelled}
	}
	errs := jobErrors(st)
	if len(errs) == 0 {
		errs = []string{"no error was recorded; see the orchestrator's log"}
	}
	fmt.Fprintf(out, "job %s failed: %s\n", st.ID, strings.Join(errs, "; "))
	return &reportedError{msg: "failed"}
}

// readSpec reads SPEC and names its source for messages.
func (c *runCmd) readSpec(env *Env) ([]byte, string, error) {
	if c.spec == "-" {
		data, err := io.ReadAll(io.LimitReader(env.Stdin, 2<<20))
		if err != nil {
			return nil, "stdin", fmt.Errorf("read the job spec from stdin: %w", err)
		}
		return data, "stdin", nil
	}
	data, err := os.ReadFile(c.spec)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, c.spec, fmt.Errorf("SPEC %s does not exist; give the path of a job spec file, or - for stdin", c.spec)
		}
		return nil, c.spec, fmt.Errorf("read SPEC %s: %w", c.spec, err)
	}
	return data, c.spec, nil
}
