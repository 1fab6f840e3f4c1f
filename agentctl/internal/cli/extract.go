package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/secure-agent/secure-agent/libs/gctune"
	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// extractCmd runs a connector in-process and writes Arrow files plus
// manifest.json to a local directory: no stack, no Dapr.
type extractCmd struct {
	src          sourceFlags
	out          string
	batchRows    positiveInt
	jobID        string
	maxTextBytes positiveInt
	allowEmpty   bool
	cpuProfile   string
}

func (c *extractCmd) name() string { return "extract" }
func (c *extractCmd) synopsis() string {
	return "read a source's catalog into Arrow files and manifest.json in --out (no stack needed)"
}

func (c *extractCmd) define(fs *flag.FlagSet) {
	c.src.define(fs)
	fs.StringVar(&c.out, "out", "", "new or empty `directory` for the Arrow files and manifest.json (required)")
	c.batchRows = 8192
	fs.Var(&c.batchRows, "batch-rows", "`rows` per Arrow record batch")
	fs.StringVar(&c.jobID, "job-id", "", "job `id` stamped on every row (default: random)")
	c.maxTextBytes = model.DefaultMaxTextBytes
	fs.Var(&c.maxTextBytes, "max-text-bytes", "cut comments, definitions and expressions longer than this many `bytes` (marked in truncated_fields)")
	fs.BoolVar(&c.allowEmpty, "allow-empty", false, "succeed even when an --include pattern matches nothing or no table is selected")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the extraction to `file` (for a slow extraction's bug report: go tool pprof reads it)")
}

var jobIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func (c *extractCmd) validate(env *Env) []string {
	problems := c.src.validate(env)
	if c.jobID != "" && !jobIDPattern.MatchString(c.jobID) {
		problems = append(problems, fmt.Sprintf("--job-id %q: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit", c.jobID))
	}
	if p := outDirProblem(c.out); p != "" {
		problems = append(problems, p)
	}
	if err := model.ValidateMaxTextBytes(int(c.maxTextBytes)); err != nil {
		problems = append(problems, "--max-text-bytes: "+err.Error())
	}
	return problems
}

// allowEmptyHint is how extract allows a selection that matches nothing.
const allowEmptyHint = "pass --allow-empty"

// outDirProblem refuses a directory that already holds files, so the
// output of two runs can never mix and nothing is overwritten.
func outDirProblem(dir string) string {
	if dir == "" {
		return "--out is required: a new or empty directory for the Arrow files and manifest.json"
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return ""
	case err != nil:
		return fmt.Sprintf("--out %s: %v", dir, err)
	case !fi.IsDir():
		return fmt.Sprintf("--out %s is a file; give a new or empty directory", dir)
	}
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Sprintf("--out %s: %v", dir, err)
	}
	defer f.Close()
	if names, _ := f.Readdirnames(1); len(names) > 0 {
		return fmt.Sprintf("--out %s is not empty; give a new or empty directory so the files of two runs never mix", dir)
	}
	return ""
}

// summary is the one JSON line extract prints on stdout.
type summary struct {
	Counts       map[model.Kind]int64 `json:"counts"`
	Files        int                  `json:"files"`
	Bytes        int64                `json:"bytes"`
	ElapsedMS    int64                `json:"elapsed_ms"`
	PeakRSSBytes int64                `json:"peak_rss_bytes"`
	Queries      int                  `json:"queries"`
	Out          string               `json:"out"`
	// Truncated counts, per kind, the text values cut at --max-text-bytes.
	Truncated map[model.Kind]int64 `json:"truncated"`
	// Warnings are the filter checks that warned (printed on stderr too).
	Warnings []string `json:"warnings,omitempty"`
}

func (c *extractCmd) run(ctx context.Context, env *Env) error {
	start := time.Now()
	gctune.Apply(gctune.LookupEnv(env.LookupEnv), gctune.DefaultPercent)
	if c.cpuProfile != "" {
		stop, err := startCPUProfile(c.cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	jobID := c.jobID
	if jobID == "" {
		jobID = newJobID()
	}
	out, err := filepath.Abs(c.out)
	if err != nil {
		return fmt.Errorf("--out %s: %w", c.out, err)
	}
	src := c.src.source

	conn, err := env.Registry.Open(ctx, src, c.src.creds)
	if err != nil {
		return err // connector errors name the source and the fix
	}
	defer conn.Close()

	empty := connector.EmptyMatch{Allow: c.allowEmpty, AllowHint: allowEmptyHint}
	warnings, err := c.checkFilters(ctx, env, conn, empty)
	if err != nil {
		return err
	}

	fileSink, err := model.NewFileSink(out)
	if err != nil {
		return fmt.Errorf("write to --out %s: %w", out, err)
	}
	sink := &progressSink{next: fileSink, p: &progress{}}
	w, err := model.NewWriter(sink, model.WriterOptions{
		JobID: jobID, ExtractedAt: start, MaxRows: int(c.batchRows), ExcludeFields: src.ExcludeFields,
		MaxTextBytes: int(c.maxTextBytes),
	})
	if err != nil {
		return errors.Join(err, fileSink.Abort())
	}
	sink.counts = w.Counts

	stats, err := extractWithProgress(ctx, env, conn.Extract, w, sink.p, start)
	if err != nil {
		// Half a catalog must not look like a whole one: discard it.
		abortErr := fileSink.Abort()
		_ = w.Close() // releases the builders; its flush into the aborted sink fails by design
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted: %w", err)
		}
		return errors.Join(fmt.Errorf("%w (nothing was kept in %s)", err, out), abortErr)
	}
	if err := w.Close(); err != nil {
		return errors.Join(fmt.Errorf("finish the last batches: %w (nothing was kept in %s)", err, out), fileSink.Abort())
	}
	// The filters together may keep nothing although each matched alone.
	if sel := empty.Tables(int(w.Counts()[model.KindTable])); sel.Status == connector.Fail {
		return errors.Join(fmt.Errorf("%s (nothing was kept in %s)", checkText(sel), out), fileSink.Abort())
	} else if sel.Status == connector.Warn {
		warnings = append(warnings, warn(env, sel))
	}
	files, err := fileSink.Close()
	if err != nil {
		return err
	}

	counts := allKinds(w.Counts())
	finished := time.Now()
	m := model.Manifest{
		JobID: jobID,
		Source: model.ManifestSource{
			Kind: src.Kind, Connection: src.Connection, Databases: src.Databases,
			Filters: src.Filters, ExcludeFields: src.ExcludeFields, MaxTextBytes: w.MaxTextBytes(),
		},
		StartedAt:   start.UTC(),
		FinishedAt:  finished.UTC(),
		Files:       files,
		Rows:        counts,
		Queries:     stats.Queries,
		Consistency: model.Consistency(src.Kind),
	}
	if err := model.WriteManifest(out, m); err != nil {
		return fmt.Errorf("write manifest.json to %s: %w", out, err)
	}

	s := summary{Counts: counts, Files: len(files), Out: out, Queries: stats.Queries, Truncated: w.Truncated(), Warnings: warnings}
	for _, f := range files {
		s.Bytes += f.Bytes
	}
	s.ElapsedMS = time.Since(start).Milliseconds()
	s.PeakRSSBytes = peakRSS()
	return writeJSONLine(env.Stdout, s)
}

// checkFilters runs the source's preflight when filters are set and judges
// each pattern's check: an include pattern that matched nothing fails the
// run unless --allow-empty; the warnings are printed and returned. Only
// filter checks are judged here: a source that cannot be read fails in
// Extract with its own error.
func (c *extractCmd) checkFilters(ctx context.Context, env *Env, conn connector.Connector, empty connector.EmptyMatch) ([]string, error) {
	if !hasPatterns(c.src.source.Filters) {
		return nil, nil
	}
	var warnings, failures []string
	for _, ck := range empty.Filters(conn.Preflight(ctx)) {
		switch {
		case ck.Filter == "":
		case ck.Status == connector.Fail:
			failures = append(failures, checkText(ck))
		case ck.Status == connector.Warn:
			warnings = append(warnings, warn(env, ck))
		}
	}
	if len(failures) > 0 {
		return warnings, fmt.Errorf("nothing was extracted: %s", strings.Join(failures, "; "))
	}
	return warnings, nil
}

func hasPatterns(f connector.Filters) bool {
	return len(f.IncludeSchemas)+len(f.ExcludeSchemas)+len(f.IncludeTables)+len(f.ExcludeTables) > 0 || f.TempTables != ""
}

// checkText is a check as one line: what was found and what to do.
func checkText(ck connector.Check) string {
	if ck.Remediation == "" {
		return ck.Detail
	}
	return ck.Detail + " — " + ck.Remediation
}

// warn prints a warning line on stderr and returns its text.
func warn(env *Env, ck connector.Check) string {
	text := checkText(ck)
	fmt.Fprintln(env.Stderr, "warning: "+oneLine(text))
	return text
}

// extractWithProgress runs extract while a ticker prints progress lines to
// stderr; the reporter has stopped writing when it returns.
func extractWithProgress(ctx context.Context, env *Env,
	extract func(context.Context, *model.Writer) (connector.Stats, error), w *model.Writer, p *progress, start time.Time,
) (connector.Stats, error) {
	ticker := time.NewTicker(env.ProgressEvery)
	defer ticker.Stop()
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		p.report(ticker.C, stop, start, env.Stderr)
	}()
	stats, err := extract(ctx, w)
	close(stop)
	<-done
	return stats, err
}

// allKinds reports every kind, zero included, so consumers of the summary
// and manifest see the same keys whatever the source held.
func allKinds(c map[model.Kind]int64) map[model.Kind]int64 {
	out := make(map[model.Kind]int64, len(model.Kinds))
	for _, k := range model.Kinds {
		out[k] = c[k]
	}
	return out
}

func newJobID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// startCPUProfile writes a CPU profile to path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("--cpuprofile %s: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}
