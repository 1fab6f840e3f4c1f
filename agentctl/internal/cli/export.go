package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/secure-agent/secure-agent/libs/model"
)

// exportCmd turns an extract directory into catalog entity JSON lines.
type exportCmd struct {
	format, in, out string
}

const formatEntityJSONL = "entity-jsonl"

func (c *exportCmd) name() string { return "export" }
func (c *exportCmd) synopsis() string {
	return "convert an extract directory (--in) to catalog entity JSON lines (--out FILE, - for stdout)"
}

func (c *exportCmd) define(fs *flag.FlagSet) {
	fs.StringVar(&c.format, "format", formatEntityJSONL, "output `format`: entity-jsonl")
	fs.StringVar(&c.in, "in", "", "extract `directory` holding manifest.json (required)")
	fs.StringVar(&c.out, "out", "", "output `file`, or - for stdout (required)")
}

func (c *exportCmd) validate(*Env) []string {
	var problems []string
	if c.format != formatEntityJSONL {
		problems = append(problems, fmt.Sprintf("--format %q is not supported: use %s", c.format, formatEntityJSONL))
	}
	if c.in == "" {
		problems = append(problems, "--in is required: the directory agentctl extract wrote")
	} else if fi, err := os.Stat(c.in); err != nil {
		problems = append(problems, fmt.Sprintf("--in %s: %v", c.in, err))
	} else if !fi.IsDir() {
		problems = append(problems, fmt.Sprintf("--in %s is a file; give the directory agentctl extract wrote", c.in))
	}
	if c.out == "" {
		problems = append(problems, "--out is required: a file path, or - for stdout")
	} else if c.out != "-" {
		if fi, err := os.Stat(c.out); err == nil && fi.IsDir() {
			problems = append(problems, fmt.Sprintf("--out %s is a directory; give a file path", c.out))
		}
	}
	return problems
}

func (c *exportCmd) run(_ context.Context, env *Env) error {
	var counts map[string]int
	var err error
	if c.out == "-" {
		counts, err = model.ExportEntityJSONL(c.in, env.Stdout)
	} else {
		counts, err = exportToFile(c.in, c.out)
	}
	if err != nil {
		return err
	}
	types := make([]string, 0, len(counts))
	total := 0
	for t, n := range counts {
		types = append(types, t)
		total += n
	}
	sort.Strings(types)
	for _, t := range types {
		fmt.Fprintf(env.Stderr, "%-16s %d\n", t, counts[t])
	}
	fmt.Fprintf(env.Stderr, "%-16s %d\n", "total", total)
	return nil
}

// exportToFile writes through a temporary file renamed into place, so a
// failed export never leaves a truncated file that looks complete.
func exportToFile(in, out string) (map[string]int, error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create --out %s: %w", out, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	counts, err := model.ExportEntityJSONL(in, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("export %s to %s: %w", in, out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return nil, fmt.Errorf("write --out %s: %w", out, err)
	}
	return counts, nil
}
