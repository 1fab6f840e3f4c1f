package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

type gateConfig struct {
	govulncheck, db, allowlist string
	modules, binaries          []string
	parallel                   int
	today                      time.Time
}

// allowEntry is one reviewed exception.
type allowEntry struct {
	ID      string   `yaml:"id"`
	Reason  string   `yaml:"reason"`
	Expires string   `yaml:"expires"`
	Targets []string `yaml:"targets"` // optional: module dirs or binary names it applies to
	expires time.Time
	used    bool
}

type allowFile struct {
	Allow []*allowEntry `yaml:"allow"`
}

func loadAllowlist(path string) ([]*allowEntry, error) {
	if path == "" {
		return nil, errors.New("-allowlist is required (deploy/vulncheck/allowlist.yaml)")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f allowFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var problems []string
	seen := map[string]bool{}
	for i, e := range f.Allow {
		where := fmt.Sprintf("%s: entry %d", path, i+1)
		if !strings.HasPrefix(e.ID, "GO-") {
			problems = append(problems, fmt.Sprintf("%s: id %q is not a Go vulnerability id (GO-YYYY-NNNN)", where, e.ID))
		}
		if seen[e.ID] {
			problems = append(problems, fmt.Sprintf("%s: %s is listed twice", where, e.ID))
		}
		seen[e.ID] = true
		if len(strings.TrimSpace(e.Reason)) < 20 {
			problems = append(problems, fmt.Sprintf("%s (%s): a reason of at least 20 characters is required: why it is safe, and what would end the exception", where, e.ID))
		}
		t, err := time.Parse(time.DateOnly, e.Expires)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s (%s): expires %q is not a date (YYYY-MM-DD)", where, e.ID, e.Expires))
		}
		e.expires = t
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	return f.Allow, nil
}

// finding is one reachable vulnerability in one target.
type finding struct {
	Target, ID, Summary, Fixed, Frame string
}

// result is what govulncheck said about one target.
type result struct {
	target     string
	reachable  []finding
	imported   map[string]bool // vulnerable code present but not called
	dbModified string
	err        error
}

func gate(ctx context.Context, c gateConfig, stdout, stderr io.Writer) int {
	allow, err := loadAllowlist(c.allowlist)
	if err != nil {
		fmt.Fprintln(stderr, "vulngate:", err)
		return exitSetup
	}
	if c.db == "" {
		fmt.Fprintln(stderr, "vulngate: -db is required (built by deploy/vulncheck/build.sh)")
		return exitSetup
	}
	if len(c.modules)+len(c.binaries) == 0 {
		fmt.Fprintln(stderr, "vulngate: nothing to scan: give -module and/or -binary")
		return exitSetup
	}
	type job struct{ target, dir, mode string }
	var jobs []job
	for _, m := range c.modules {
		jobs = append(jobs, job{target: m, dir: m, mode: "source"})
	}
	for _, b := range c.binaries {
		jobs = append(jobs, job{target: b, dir: b, mode: "binary"})
	}
	results := make([]result, len(jobs))
	sem := make(chan struct{}, max(1, c.parallel))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			start := time.Now()
			results[i] = scan(ctx, c, j.target, j.mode)
			fmt.Fprintf(stderr, "vulngate: scanned %s (%s) in %s\n", j.target, j.mode, time.Since(start).Round(100*time.Millisecond))
		}()
	}
	wg.Wait()

	failed := false
	var dbDate string
	for _, r := range results {
		if r.err != nil {
			fmt.Fprintf(stderr, "vulngate: %s: %v\n", r.target, r.err)
			return exitSetup
		}
		if r.dbModified != "" {
			dbDate = r.dbModified
		}
		for _, f := range r.reachable {
			e := allowed(allow, f)
			switch {
			case e == nil:
				failed = true
				fmt.Fprintf(stdout, "VULNERABLE %s: %s (%s) is reachable via %s; fixed in %s. Upgrade, or add a reviewed entry to the allowlist.\n",
					f.Target, f.ID, f.Summary, f.Frame, orNone(f.Fixed))
			case c.today.After(e.expires):
				failed = true
				fmt.Fprintf(stdout, "EXPIRED    %s: %s is allowed only until %s (%s); review it again.\n", f.Target, f.ID, e.Expires, e.Reason)
			default:
				fmt.Fprintf(stdout, "allowed    %s: %s (reviewed, until %s)\n", f.Target, f.ID, e.Expires)
			}
		}
	}
	imported := map[string]bool{}
	for _, r := range results {
		for id := range r.imported {
			imported[id] = true
		}
	}
	for _, e := range allow {
		if e.used {
			fmt.Fprintf(stdout, "reviewed   %s until %s: %s\n", e.ID, e.Expires, strings.TrimSpace(e.Reason))
		} else {
			fmt.Fprintf(stdout, "unused     allowlist entry %s matched nothing reachable in these targets; remove it if no target needs it\n", e.ID)
		}
	}
	fmt.Fprintf(stdout, "vulngate: %d targets, database modified %s; %d vulnerabilities present in dependencies but never called\n",
		len(results), orNone(dbDate), len(imported))
	if failed {
		fmt.Fprintln(stdout, "vulngate: FAILED")
		return exitVulnerable
	}
	fmt.Fprintln(stdout, "vulngate: no reachable vulnerability outside the allowlist")
	return exitOK
}

func allowed(allow []*allowEntry, f finding) *allowEntry {
	for _, e := range allow {
		if e.ID != f.ID {
			continue
		}
		if len(e.Targets) > 0 {
			match := false
			for _, t := range e.Targets {
				if t == f.Target || t == filepath.Base(f.Target) {
					match = true
				}
			}
			if !match {
				continue
			}
		}
		e.used = true
		return e
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "no release"
	}
	return s
}

// govulncheck -json messages (golang.org/x/vuln/internal/govulncheck).
type message struct {
	Config *struct {
		DBLastModified *time.Time `json:"db_last_modified"`
	} `json:"config"`
	OSV *struct {
		ID      string `json:"id"`
		Summary string `json:"summary"`
	} `json:"osv"`
	Finding *struct {
		OSV          string `json:"osv"`
		FixedVersion string `json:"fixed_version"`
		Trace        []struct {
			Module   string `json:"module"`
			Version  string `json:"version"`
			Package  string `json:"package"`
			Function string `json:"function"`
			Receiver string `json:"receiver"`
		} `json:"trace"`
	} `json:"finding"`
}

func scan(ctx context.Context, c gateConfig, target, mode string) result {
	r := result{target: target, imported: map[string]bool{}}
	dbURL := "file://" + c.db
	if abs, err := filepath.Abs(c.db); err == nil {
		dbURL = "file://" + abs
	}
	args := []string{"-json", "-db", dbURL}
	var dir string
	if mode == "binary" {
		args = append(args, "-mode", "binary", target)
	} else {
		dir = target
		args = append(args, "./...")
	}
	cmd := exec.CommandContext(ctx, c.govulncheck, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		r.err = err
		return r
	}
	if err := cmd.Start(); err != nil {
		r.err = fmt.Errorf("start govulncheck: %w", err)
		return r
	}
	summaries := map[string]string{}
	seen := map[string]bool{}
	dec := json.NewDecoder(bufio.NewReader(out))
	for {
		var m message
		if err := dec.Decode(&m); err != nil {
			if !errors.Is(err, io.EOF) {
				r.err = fmt.Errorf("read govulncheck output: %w", err)
			}
			break
		}
		switch {
		case m.Config != nil && m.Config.DBLastModified != nil:
			r.dbModified = m.Config.DBLastModified.Format(time.DateOnly)
		case m.OSV != nil:
			summaries[m.OSV.ID] = m.OSV.Summary
		case m.Finding != nil && len(m.Finding.Trace) > 0:
			f := m.Finding
			top := f.Trace[0]
			if top.Function == "" { // module or package level: present, not called
				r.imported[f.OSV] = true
				continue
			}
			if seen[f.OSV] {
				continue
			}
			seen[f.OSV] = true
			frame := top.Package + "." + top.Function
			if top.Receiver != "" {
				frame = top.Package + "." + strings.TrimPrefix(top.Receiver, "*") + "." + top.Function
			}
			r.reachable = append(r.reachable, finding{Target: target, ID: f.OSV, Fixed: f.FixedVersion, Frame: frame + " (" + top.Module + "@" + top.Version + ")"})
		}
	}
	if err := cmd.Wait(); err != nil && r.err == nil {
		// govulncheck -json exits 0 even with findings; anything else is a failure to scan.
		r.err = fmt.Errorf("govulncheck failed: %v\n%s", err, strings.TrimSpace(stderr.String()))
	}
	for i := range r.reachable {
		r.reachable[i].Summary = summaries[r.reachable[i].ID]
		delete(r.imported, r.reachable[i].ID)
	}
	sort.Slice(r.reachable, func(i, j int) bool { return r.reachable[i].ID < r.reachable[j].ID })
	return r
}
