// Package cli implements agentctl's subcommands. Run is the whole program:
// main only wires the connector registry, the environment and the standard
// streams into it, so tests drive exactly what a user runs.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// Exit codes.
const (
	ExitOK          = 0
	ExitFailure     = 1   // the command ran and failed; one error line on stderr
	ExitUsage       = 2   // the command line (or the job spec) is wrong; every problem listed
	ExitCancelled   = 3   // run --wait: the job was cancelled
	ExitUnreachable = 4   // the orchestrator did not answer; start the stack
	ExitInterrupted = 130 // Ctrl-C (the shell's convention, 128+SIGINT)
)

// LookupEnv is os.LookupEnv's shape; injected so only main reads the
// process environment.
type LookupEnv func(key string) (string, bool)

// Env is everything a command may use from outside.
type Env struct {
	Registry  connector.Registry
	Version   string
	LookupEnv LookupEnv
	Stdin     io.Reader
	Stdout    io.Writer
	Stderr    io.Writer
	// ProgressEvery is how often extract reports progress (default 2s).
	ProgressEvery time.Duration
	// WatchLineEvery is how often run --wait writes a progress line when
	// stderr is not a terminal (default 5s; state changes always write one).
	WatchLineEvery time.Duration
	// Terminal reports whether w is a terminal and its width in columns
	// (default: asks the operating system about *os.File writers).
	Terminal func(w io.Writer) (width int, ok bool)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// command is one subcommand. define registers its flags; validate checks
// the parsed values and returns every problem; run does the work.
type command interface {
	name() string
	synopsis() string
	define(fs *flag.FlagSet)
	validate(env *Env) []string
	run(ctx context.Context, env *Env) error
}

// argsCommand is a command that takes positional arguments (a spec file,
// a job id) besides its flags.
type argsCommand interface {
	// argsUsage names the arguments for help, e.g. "SPEC".
	argsUsage() string
	// setArgs takes the positional arguments and returns every problem.
	setArgs(args []string) []string
}

func commands() []command {
	return []command{
		&runCmd{}, &planCmd{}, &statusCmd{}, &listCmd{}, &cancelCmd{}, &manifestCmd{}, &schedulesCmd{},
		&deadLettersCmd{}, &auditCmd{}, &probeBrokerCmd{}, &extractCmd{}, &preflightCmd{}, &exportCmd{}, &verifyImageCmd{}, versionCmd{},
	}
}

// Run executes agentctl with args (without the program name) and returns
// the process exit code.
func Run(ctx context.Context, args []string, env Env) int {
	if env.LookupEnv == nil {
		env.LookupEnv = func(string) (string, bool) { return "", false }
	}
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	if env.Version == "" {
		env.Version = "dev"
	}
	if env.ProgressEvery <= 0 {
		env.ProgressEvery = 2 * time.Second
	}
	if env.WatchLineEvery <= 0 {
		env.WatchLineEvery = 5 * time.Second
	}
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	if env.Terminal == nil {
		env.Terminal = terminal
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage())
		return ExitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if c := find(args[1]); c != nil {
				fmt.Fprint(env.Stdout, commandUsage(c))
				return ExitOK
			}
			fmt.Fprintf(env.Stderr, "agentctl: unknown command %q\n\n%s", args[1], usage())
			return ExitUsage
		}
		fmt.Fprint(env.Stdout, usage())
		return ExitOK
	}
	c := find(args[0])
	if c == nil {
		fmt.Fprintf(env.Stderr, "agentctl: unknown command %q; commands are %s (agentctl help lists their flags)\n",
			args[0], strings.Join(names(), ", "))
		return ExitUsage
	}
	return runCommand(ctx, c, args[1:], &env)
}

func runCommand(ctx context.Context, c command, args []string, env *Env) int {
	fs := newFlagSet(c.name())
	c.define(fs)
	problems, positional, help := parseFlags(fs, args)
	if help {
		fmt.Fprint(env.Stdout, commandUsage(c))
		return ExitOK
	}
	if ac, ok := c.(argsCommand); ok {
		problems = append(problems, ac.setArgs(positional)...)
	} else {
		for _, a := range positional {
			problems = append(problems, fmt.Sprintf("unexpected argument %q: every setting is a --flag", a))
		}
	}
	// Validation runs even after parse problems so that every mistake is
	// listed at once; values that failed to parse keep their defaults.
	problems = append(problems, c.validate(env)...)
	if len(problems) > 0 {
		noun := "problem"
		if len(problems) > 1 {
			noun = "problems"
		}
		fmt.Fprintf(env.Stderr, "agentctl %s: %d %s with the command line:\n", c.name(), len(problems), noun)
		for _, p := range problems {
			fmt.Fprintf(env.Stderr, "  - %s\n", indentRest(p))
		}
		fmt.Fprintf(env.Stderr, "Run 'agentctl help %s' for its flags.\n", c.name())
		return ExitUsage
	}
	if err := c.run(ctx, env); err != nil {
		var reported *reportedError
		if !errors.As(err, &reported) {
			fmt.Fprintf(env.Stderr, "agentctl %s: %v\n", c.name(), err)
		}
		return exitCode(err)
	}
	return ExitOK
}

// reportedError is a failure whose explanation the command already wrote
// (preflight's table); Run only sets the exit code (ExitFailure unless
// code is set).
type reportedError struct {
	msg  string
	code int
}

func (e *reportedError) Error() string { return e.msg }

// codedError is a failure with its own exit code; Run prints it.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// exitCode maps a command's error to the process exit code.
func exitCode(err error) int {
	var reported *reportedError
	var coded *codedError
	var unreachable *unreachableError
	var api *apiError
	switch {
	case errors.Is(err, errInterrupted):
		return ExitInterrupted
	case errors.As(err, &reported) && reported.code != 0:
		return reported.code
	case errors.As(err, &coded):
		return coded.code
	case errors.As(err, &unreachable):
		return ExitUnreachable
	case errors.As(err, &api) && api.Status == 400:
		return ExitUsage
	}
	return ExitFailure
}

// indentRest keeps multi-line problems (like a filter's list) under their bullet.
func indentRest(s string) string { return strings.ReplaceAll(s, "\n", "\n    ") }

func find(name string) command {
	for _, c := range commands() {
		if c.name() == name {
			return c
		}
	}
	return nil
}

func names() []string {
	var out []string
	for _, c := range commands() {
		out = append(out, c.name())
	}
	return out
}

func usage() string {
	var b strings.Builder
	b.WriteString("agentctl — the secure-agent command line\n\nUsage: agentctl <command> [flags]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-10s %s\n", c.name(), c.synopsis())
	}
	b.WriteString("\nJob commands talk to the orchestrator: --orchestrator URL, else $SA_ORCHESTRATOR_URL, else " + defaultOrchestrator + " (the stack `make run` starts).\n")
	b.WriteString("\nExit codes: 0 success, 1 the command (or the job) failed, 2 the command line or job spec is wrong,\n" +
		"3 the job was cancelled (run --wait), 4 the orchestrator is unreachable, 130 interrupted (Ctrl-C).\n")
	for _, c := range commands() {
		b.WriteString("\n")
		b.WriteString(commandUsage(c))
	}
	return b.String()
}

func commandUsage(c command) string {
	fs := newFlagSet(c.name())
	c.define(fs)
	s := fmt.Sprintf("agentctl %s — %s\n", c.name(), c.synopsis())
	if ac, ok := c.(argsCommand); ok {
		s += fmt.Sprintf("  usage: agentctl %s %s [flags]\n", c.name(), ac.argsUsage())
	}
	if flags := flagUsage(fs); flags != "" {
		s += flags
	}
	return s
}
