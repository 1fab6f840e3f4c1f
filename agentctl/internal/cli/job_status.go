package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// statusCmd shows one job.
type statusCmd struct {
	jobIDArg
	orch    orchestratorFlags
	jsonOut bool
}

func (c *statusCmd) name() string { return "status" }
func (c *statusCmd) synopsis() string {
	return "show a job: state, timings, partitions, rows by kind, errors and where its output is"
}

func (c *statusCmd) define(fs *flag.FlagSet) {
	c.orch.define(fs)
	fs.BoolVar(&c.jsonOut, "json", false, "print the job's status as JSON")
}

func (c *statusCmd) validate(env *Env) []string { return c.orch.validate(env) }

func (c *statusCmd) run(ctx context.Context, env *Env) error {
	st, err := c.orch.client.status(ctx, c.id)
	if err != nil {
		return notFoundHint(err, c.id)
	}
	if c.jsonOut {
		return writeJSONLine(env.Stdout, st)
	}
	return printStatus(env.Stdout, st, env.Now(), c.orch.local, c.orch.destDir)
}

// notFoundHint adds what to do to a 404.
func notFoundHint(err error, id string) error {
	var api *apiError
	if errors.As(err, &api) && api.Status == http.StatusNotFound {
		return fmt.Errorf("job %s not found (%v); `agentctl list` shows the jobs the orchestrator knows", id, api)
	}
	return err
}

func printStatus(w io.Writer, st job.Status, now time.Time, local bool, destDir string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	id := st.ID
	if st.Name != "" {
		id += " (" + st.Name + ")"
	}
	row("job", id)
	row("state", stateText(st))
	row("source", fmt.Sprintf("%s, connection %s", oneLine(st.SourceKind), oneLine(st.Connection)))
	sub := st.SubmittedAt
	row("submitted", fmt.Sprintf("%s (%s ago)", fmtTime(&sub), fmtDuration(now.Sub(sub))))
	row("started", fmtTime(st.StartedAt))
	row("finished", fmtTime(st.FinishedAt))
	d := fmtDuration(jobElapsed(st, now))
	if !st.State.Terminal() {
		d += " so far"
	}
	row("duration", d)
	row("assets", fmt.Sprint(st.Assets))
	if st.Mode != "" {
		row("changes", changesText(st))
	}
	if st.State == job.Succeeded || st.Manifest != nil {
		for _, l := range manifestLines(st.Manifest, local, destDir) {
			k, v, _ := strings.Cut(l, ":")
			row(k, strings.TrimSpace(v))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(st.Partitions) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PARTITION\tDATABASE\tSCHEMAS\tTABLES\tSTATE\tATTEMPTS\tASSETS\tERROR")
		for _, p := range st.Partitions {
			schemas := strings.Join(p.Schemas, ",")
			if r := p.Range; r != nil {
				schemas += fmt.Sprintf(" [%q, %q)", r.From, r.Before) // a range of the schema's tables
			}
			var assets int64
			for _, n := range p.Rows {
				assets += n
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%d\t%s\n", oneLine(p.ID), oneLine(p.Database), oneLine(schemas),
				p.Tables, p.State, p.Attempts, assets, oneLine(p.Error))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(st.Rows) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tROWS")
		for _, k := range model.Kinds {
			if n, ok := st.Rows[k]; ok {
				fmt.Fprintf(tw, "%s\t%d\n", k, n)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(st.Warnings) > 0 {
		fmt.Fprintln(w, "\nwarnings:")
		for _, warning := range st.Warnings {
			fmt.Fprintf(w, "  - %s\n", oneLine(warning))
		}
	}
	if errs := st.Errors; len(errs) > 0 {
		fmt.Fprintln(w, "\nerrors:")
		for _, e := range errs {
			fmt.Fprintf(w, "  - %s\n", strings.ReplaceAll(e, "\n", "\n    "))
		}
	}
	return nil
}
