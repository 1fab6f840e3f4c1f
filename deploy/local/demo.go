package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
)

// demoJob generates the bundled demo database (once) and runs a job on it
// through the stack with agentctl, which prints the live progress and the
// final `job <id> succeeded: N assets in D` line. It returns agentctl's
// error when the job did not succeed.
func demoJob(ctx context.Context, out io.Writer, s *stack.Stack, root string) error {
	db, err := demoDatabase(ctx, out, s, root)
	if err != nil {
		return err
	}
	spec := filepath.Join(filepath.Dir(db), "job.yaml")
	if err := os.WriteFile(spec, []byte(demoSpec(db)), 0o640); err != nil {
		return fmt.Errorf("demo: write %s: %w", spec, err)
	}
	fmt.Fprintf(out, "==> running the demo job (%s)\n", spec)
	started := time.Now()
	err = runTool(ctx, out, filepath.Join(s.DataDir(), "destination"), filepath.Join(root, "bin", "agentctl"), "run", spec, "--wait",
		"--orchestrator", s.AppURL("orchestrator"), "--token-file", stack.APITokenFile(s.DataDir()))
	if err != nil {
		return fmt.Errorf("demo job did not succeed after %s: %w (logs: %s)", time.Since(started).Round(time.Second), err, filepath.Join(s.DataDir(), "logs"))
	}
	return nil
}

// demoDatabase generates the bundled demo database once and returns its path.
func demoDatabase(ctx context.Context, out io.Writer, s *stack.Stack, root string) (string, error) {
	dir := filepath.Join(s.DataDir(), "demo")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	db := filepath.Join(dir, "retail.db")
	if _, err := os.Stat(db); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintln(out, "==> generating the demo SQLite database", db)
		if err := runTool(ctx, out, "", filepath.Join(root, "bin", "demodb"), db); err != nil {
			return "", fmt.Errorf("demo: generate %s: %w", db, err)
		}
	}
	return db, nil
}

// demoSpec is the demo job: the whole demo database, default partitioning,
// output to the local destination binding.
func demoSpec(db string) string {
	return strings.Join([]string{
		"# The demo job `make run` submits (written by devstack; edit a copy to try your own).",
		"version: 1",
		"name: demo",
		"connection: default/sqlite/demo",
		"source:",
		"  kind: sqlite",
		"  dsn: " + yamlQuote(db),
		"",
	}, "\n")
}

func yamlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func runTool(ctx context.Context, out io.Writer, destinationDir, bin string, args ...string) error {
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s is missing: run `make build`", bin)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	// agentctl names the output folder from the binding's root.
	cmd.Env = append(os.Environ(), "SA_DESTINATION_DIR="+destinationDir)
	return cmd.Run()
}
