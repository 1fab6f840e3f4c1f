// Package config loads typed settings from flags and environment variables
// and reports every missing or invalid setting at once, by name, so an
// operator fixes a deployment in one round instead of one crash per setting.
//
// Normal use, in main (the only place that reads the environment):
//
//	l := config.New("orchestrator")
//	l.SetOutput(os.Stderr)
//	l.Port(&cfg.HTTPPort, "HTTP_PORT", 8080, "port the HTTP API listens on")
//	l.String(&cfg.Token, "API_TOKEN", "", "token callers must present", config.Required(), config.Secret())
//	if err := l.Load(os.Args[1:], os.LookupEnv); errors.Is(err, config.ErrHelp) {
//		return nil // usage was printed
//	}
//	l.Check(cfg.HTTPPort != cfg.GRPCPort, "HTTP_PORT", "must differ from GRPC_PORT")
//	if err := l.Err(); err != nil {
//		return err // every parse and check problem, in registration order
//	}
//
// Load returns only the problems found while parsing; Err returns those plus
// the ones recorded by Check, so callers may ignore Load's error (apart from
// ErrHelp) and act on Err alone. Checks about a setting that already failed to
// parse are skipped, because its value is meaningless.
//
// Precedence is flag, then environment variable, then default. An environment
// variable set to the empty string counts as unset, because orchestrators
// commonly render optional variables that way; an empty flag value
// (--name=) is taken literally. A Required setting ignores its default: it
// must come from a flag or the environment.
//
// Flags are derived from the environment variable name: HTTP_PORT becomes
// --http-port (one or two leading dashes are accepted, as in package flag).
package config

import (
	"flag"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// ErrHelp is returned by Load when -h or --help was given; the usage text has
// then been written to the output set with SetOutput. It wraps flag.ErrHelp so
// code that already checks for that keeps working.
var ErrHelp = fmt.Errorf("help requested: %w", flag.ErrHelp)

// LookupEnv is os.LookupEnv's shape; injected so nothing else reads the environment.
type LookupEnv func(key string) (string, bool)

// Option changes how a setting is validated or shown.
type Option func(*setting)

// Required makes an unset or empty setting an error; the default is not used.
func Required() Option { return func(s *setting) { s.required = true } }

// Secret keeps the value out of every error message, Usage and Describe.
func Secret() Option { return func(s *setting) { s.secret = true } }

// AllowZero lets a Duration be 0 (typically "no timeout"); other types ignore it.
func AllowZero() Option { return func(s *setting) { s.allowZero = true } }

// setting is one registered name with closures over its typed destination,
// so Load can treat all types alike.
type setting struct {
	name, flag, usage string
	typ               string // shown in Usage: "int", "duration", ...
	def               string // textual default, parsed like any other value
	extra             string // shown in Usage after the default, e.g. the allowed values
	required, secret  bool
	allowZero         bool
	isBool            bool // a bare --flag means true
	// emptyOK settings may be left empty when not Required; for the others
	// an empty value is just another invalid value.
	emptyOK bool
	// parse stores raw into the destination, or returns what is accepted
	// (without the value, so the caller decides whether it may be shown).
	parse func(raw string) (accepted string)
	clear func()
	show  func() string
}

// Loader collects setting registrations, then loads and validates them.
type Loader struct {
	program  string
	out      io.Writer
	settings []*setting
	byName   map[string]*setting
	byFlag   map[string]*setting
	// setupProblems are programming mistakes found at registration (for
	// example a name registered twice); they surface on Load instead of panicking.
	setupProblems []problemAt
	parseProblems []problemAt
	checkProblems []problemAt
	failed        map[string]bool // settings whose value did not parse
}

// orderLast sorts problems that are not about a registered setting last.
const orderLast = math.MaxInt

// problemAt remembers the registration index so problems can be sorted;
// problems not about a registered setting sort last, in the order found.
type problemAt struct {
	order int
	Problem
}

// Problem is one missing or invalid setting. Setting is empty for problems
// about the command line itself (unknown flag, stray argument).
type Problem struct{ Setting, Flag, Message string }

func (p Problem) String() string {
	switch {
	case p.Setting != "" && p.Flag != "":
		return p.Setting + " (" + p.Flag + "): " + p.Message
	case p.Setting != "":
		return p.Setting + ": " + p.Message
	case p.Flag != "":
		return p.Flag + ": " + p.Message
	default:
		return p.Message
	}
}

// Error lists every configuration problem of a program.
type Error struct {
	Program  string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Program != "" {
		b.WriteString(e.Program + ": ")
	}
	if len(e.Problems) == 1 {
		b.WriteString("1 configuration problem:\n")
	} else {
		fmt.Fprintf(&b, "%d configuration problems:\n", len(e.Problems))
	}
	for _, p := range e.Problems {
		b.WriteString("  - " + p.String() + "\n")
	}
	b.WriteString("Fix the settings above (environment variables or flags) and start again.")
	return b.String()
}

// New returns a Loader for the named program; the name prefixes errors and usage.
func New(program string) *Loader {
	return &Loader{
		program: program,
		out:     io.Discard,
		byName:  map[string]*setting{},
		byFlag:  map[string]*setting{},
		failed:  map[string]bool{},
	}
}

// SetOutput sets where Usage is written on -h/--help (default io.Discard).
func (l *Loader) SetOutput(w io.Writer) {
	if w == nil {
		w = io.Discard
	}
	l.out = w
}

// flagName derives the flag from the environment variable name.
func flagName(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), "_", "-")
}

func (l *Loader) register(s *setting, opts []Option) {
	s.flag = flagName(s.name)
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	if s.name == "" {
		l.setupProblems = append(l.setupProblems, problemAt{order: orderLast, Problem: Problem{
			Message: "a setting was registered without a name; this is a bug in the program, report it",
		}})
		return
	}
	if _, dup := l.byName[s.name]; dup {
		l.setupProblems = append(l.setupProblems, problemAt{order: l.index(s.name), Problem: Problem{
			Setting: s.name, Flag: "--" + s.flag,
			Message: "registered twice; this is a bug in the program, report it",
		}})
		return
	}
	if _, dup := l.byFlag[s.flag]; dup {
		l.setupProblems = append(l.setupProblems, problemAt{order: orderLast, Problem: Problem{
			Setting: s.name, Flag: "--" + s.flag,
			Message: "flag clashes with another setting's flag; this is a bug in the program, report it",
		}})
		return
	}
	l.settings = append(l.settings, s)
	l.byName[s.name] = s
	l.byFlag[s.flag] = s
}

// index is the registration position of name, or orderLast.
func (l *Loader) index(name string) int {
	for i, s := range l.settings {
		if s.name == name {
			return i
		}
	}
	return orderLast
}

// Load parses args (without the program name) and the environment, fills
// every registered destination and returns an *Error listing all parse
// problems, ErrHelp, or nil. Unknown flags and positional arguments are
// problems too. Load resets the results of any earlier Load and Check calls.
// Destinations of settings that fail to parse are left unchanged.
func (l *Loader) Load(args []string, env LookupEnv) error {
	l.parseProblems = append([]problemAt(nil), l.setupProblems...)
	l.checkProblems = nil
	clear(l.failed)

	flags, help := l.parseArgs(args)
	if help {
		// Write errors are ignored: there is nowhere better to report them.
		_, _ = io.WriteString(l.out, l.Usage())
		return ErrHelp
	}
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}

	for i, s := range l.settings {
		raw, provided := flags[s.flag]
		if !provided {
			if v, ok := env(s.name); ok && v != "" {
				raw, provided = v, true
			}
		}
		if !provided && !s.required {
			raw = s.def
		}
		if msg := l.apply(s, raw); msg != "" {
			l.failed[s.name] = true
			l.parseProblems = append(l.parseProblems, problemAt{order: i, Problem: Problem{
				Setting: s.name, Flag: "--" + s.flag, Message: msg,
			}})
		}
	}
	return l.errorOf(l.parseProblems)
}

// apply stores raw into s's destination, or returns the problem message.
func (l *Loader) apply(s *setting, raw string) string {
	if raw == "" {
		switch {
		case s.required:
			return fmt.Sprintf("missing setting: %s; set the environment variable %s or pass --%s", s.usage, s.name, s.flag)
		case s.emptyOK:
			s.clear()
			return ""
		}
	}
	accepted := s.parse(raw)
	if accepted == "" {
		return ""
	}
	if s.secret {
		return "invalid value (not shown because the setting is secret): " + accepted
	}
	return fmt.Sprintf("invalid value %q: %s", raw, accepted)
}

// parseArgs follows package flag's syntax but keeps going after a mistake,
// so that every command-line problem is reported in the same run.
func (l *Loader) parseArgs(args []string) (values map[string]string, help bool) {
	values = map[string]string{}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			for _, rest := range args[i+1:] {
				l.strayArg(rest)
			}
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			l.strayArg(arg)
			continue
		}
		name := strings.TrimPrefix(arg[1:], "-")
		value, hasValue := "", false
		if k, v, ok := strings.Cut(name, "="); ok {
			name, value, hasValue = k, v, true
		}
		if name == "" || name[0] == '-' || name[0] == '=' {
			l.argProblem(Problem{Message: fmt.Sprintf("bad flag syntax %q: write flags as --name=value or --name value", arg)})
			continue
		}
		s, known := l.byFlag[name]
		if !known {
			if name == "h" || name == "help" {
				return nil, true
			}
			// The value of a misspelled flag may be a secret, so it is never
			// quoted, and a following bare word is taken as that value
			// rather than reported (and printed) as a stray argument.
			if !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++
			}
			l.argProblem(Problem{Flag: "--" + name, Message: "unknown flag; run with --help to list the accepted flags"})
			continue
		}
		switch {
		case hasValue:
		case s.isBool:
			value = "true"
		case i+1 < len(args):
			i++
			value = args[i]
		default:
			l.parseProblems = append(l.parseProblems, problemAt{order: l.index(s.name), Problem: Problem{
				Setting: s.name, Flag: "--" + s.flag,
				Message: fmt.Sprintf("flag needs a value: pass --%s=VALUE (%s)", s.flag, s.usage),
			}})
			continue
		}
		values[s.flag] = value
	}
	return values, false
}

func (l *Loader) strayArg(arg string) {
	l.argProblem(Problem{Message: fmt.Sprintf("unexpected argument %q: this program takes only flags (--name=value); remove it or add the missing flag name", arg)})
}

func (l *Loader) argProblem(p Problem) {
	l.parseProblems = append(l.parseProblems, problemAt{order: orderLast, Problem: p})
}

// Check records problem for setting name when ok is false. Call it after
// Load; the problem is reported by Err. Checks on a setting that failed to
// parse are skipped so the operator sees the root cause, not its echoes.
// problem is shown as written, so never put a Secret value in it.
func (l *Loader) Check(ok bool, name, problem string) {
	if ok || l.failed[name] {
		return
	}
	p := Problem{Setting: name, Message: problem}
	if s, known := l.byName[name]; known {
		p.Flag = "--" + s.flag
	}
	l.checkProblems = append(l.checkProblems, problemAt{order: l.index(name), Problem: p})
}

// Err returns every problem from the last Load plus those recorded by Check
// since, as one *Error, or nil if there are none.
func (l *Loader) Err() error {
	all := make([]problemAt, 0, len(l.parseProblems)+len(l.checkProblems))
	all = append(all, l.parseProblems...)
	all = append(all, l.checkProblems...)
	return l.errorOf(all)
}

// errorOf returns nil (not a typed nil *Error) when there is nothing to report.
func (l *Loader) errorOf(ps []problemAt) error {
	if len(ps) == 0 {
		return nil
	}
	sorted := append([]problemAt(nil), ps...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].order < sorted[j].order })
	e := &Error{Program: l.program, Problems: make([]Problem, len(sorted))}
	for i, p := range sorted {
		e.Problems[i] = p.Problem
	}
	return e
}

// Usage lists every setting with its flag, environment variable, default and
// description. Secret defaults are shown as [set].
func (l *Loader) Usage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s [flags]\n\n", l.program)
	b.WriteString("Each setting is read from its flag, else its environment variable, else its default.\n\n")
	for _, s := range l.settings {
		fmt.Fprintf(&b, "  --%s %s\n", s.flag, s.typ)
		details := []string{"env " + s.name}
		switch {
		case s.required:
			details = append(details, "required")
		case s.def == "":
		case s.secret:
			details = append(details, "default [set]")
		default:
			details = append(details, fmt.Sprintf("default %q", s.def))
		}
		if s.secret {
			details = append(details, "secret")
		}
		if s.extra != "" {
			details = append(details, s.extra)
		}
		fmt.Fprintf(&b, "        %s (%s)\n", s.usage, strings.Join(details, ", "))
	}
	b.WriteString("  -h, --help\n        show this help and exit\n")
	return b.String()
}

// Describe returns each setting's effective value for startup logging, read
// from its destination, so call it after Load. Secrets show as [set] or
// [unset], and credentials inside URLs are redacted.
func (l *Loader) Describe() map[string]string {
	out := make(map[string]string, len(l.settings))
	for _, s := range l.settings {
		v := s.show()
		if s.secret {
			if v == "" {
				v = "[unset]"
			} else {
				v = "[set]"
			}
		}
		out[s.name] = v
	}
	return out
}
