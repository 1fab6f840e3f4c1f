package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// listFlag collects a flag given several times (--include a --include b).
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// commaFlag is one flag holding a comma-separated list (--exclude-fields a,b);
// giving it again adds to the list.
type commaFlag []string

func (c *commaFlag) String() string { return strings.Join(*c, ",") }
func (c *commaFlag) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			*c = append(*c, f)
		}
	}
	return nil
}

// newFlagSet returns a FlagSet that never prints or exits by itself: the
// command decides what to show and which exit code to use.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseFlags follows package flag's syntax (-name, --name, --name=value,
// --name value, bare boolean flags) but, unlike FlagSet.Parse, does not stop
// at the first mistake: every unknown flag, missing or bad value is
// returned, so a command line is fixed in one round. Arguments that are not
// flags (anywhere, and everything after "--") are returned in order for the
// command to judge; "-" is an argument (stdin).
func parseFlags(fs *flag.FlagSet, args []string) (problems, positional []string, help bool) {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			positional = append(positional, arg)
			continue
		}
		name := strings.TrimPrefix(arg[1:], "-")
		value, hasValue := "", false
		if k, v, ok := strings.Cut(name, "="); ok {
			name, value, hasValue = k, v, true
		}
		if name == "h" || name == "help" {
			return nil, nil, true
		}
		if name == "" || name[0] == '-' || name[0] == '=' {
			problems = append(problems, fmt.Sprintf("bad flag syntax %q: write --name=value or --name value", arg))
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			problems = append(problems, fmt.Sprintf("unknown flag --%s", name))
			continue
		}
		if isBool(f) {
			if !hasValue {
				value = "true"
			}
		} else if !hasValue {
			if i+1 >= len(args) {
				problems = append(problems, fmt.Sprintf("--%s needs a value", name))
				continue
			}
			next := args[i+1]
			// "--dsn --out x" is almost always a forgotten value, not a DSN
			// that happens to look like a flag.
			if looksLikeFlag(fs, next) {
				problems = append(problems, fmt.Sprintf("--%s needs a value (found the flag %s after it)", name, next))
				continue
			}
			i++
			value = next
		}
		if err := f.Value.Set(value); err != nil {
			problems = append(problems, fmt.Sprintf("--%s: invalid value %q: %v", name, value, plainSetError(err)))
		}
	}
	return problems, positional, false
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func looksLikeFlag(fs *flag.FlagSet, s string) bool {
	if !strings.HasPrefix(s, "-") {
		return false
	}
	name := strings.TrimLeft(s, "-")
	name, _, _ = strings.Cut(name, "=")
	return name == "h" || name == "help" || fs.Lookup(name) != nil
}

// plainSetError shortens strconv's "strconv.ParseInt: parsing "x": invalid
// syntax" to what a user needs.
func plainSetError(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "invalid syntax"):
		return "not a valid value of this type"
	case strings.Contains(msg, "value out of range"):
		return "out of range"
	}
	return msg
}

// flagUsage renders a FlagSet's flags, one per line, for help output.
func flagUsage(fs *flag.FlagSet) string {
	var b strings.Builder
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		if isBool(f) {
			arg = ""
		}
		line := "  --" + f.Name
		if arg != "" {
			line += " " + arg
		}
		if len(line) < 28 {
			line += strings.Repeat(" ", 28-len(line))
		} else {
			line += "\n" + strings.Repeat(" ", 28)
		}
		b.WriteString(line + usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			b.WriteString(" (default " + f.DefValue + ")")
		}
		b.WriteString("\n")
	})
	return b.String()
}

// positiveInt is an int flag that must be at least 1. Unlike flag.IntVar it
// keeps its value when a Set fails, so one mistake is reported once.
type positiveInt int

func (p *positiveInt) String() string { return strconv.Itoa(int(*p)) }
func (p *positiveInt) Set(v string) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	switch {
	case err != nil:
		return errors.New("not a whole number")
	case n < 1:
		return errors.New("must be at least 1")
	}
	*p = positiveInt(n)
	return nil
}

// durationFlag is a time.Duration flag that is never negative, with a
// message a user can act on (flag.Duration only says "parse error").
type durationFlag time.Duration

func (d *durationFlag) String() string { return time.Duration(*d).String() }
func (d *durationFlag) Set(v string) error {
	x, err := time.ParseDuration(strings.TrimSpace(v))
	switch {
	case err != nil:
		return errors.New("not a duration such as 500ms, 30s or 10m")
	case x < 0:
		return errors.New("must not be negative")
	}
	*d = durationFlag(x)
	return nil
}
