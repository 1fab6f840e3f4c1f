package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
)

// manifestCmd fetches a finished job's manifest.
type manifestCmd struct {
	jobIDArg
	orch orchestratorFlags
	out  string
}

func (c *manifestCmd) name() string { return "manifest" }
func (c *manifestCmd) synopsis() string {
	return "print a succeeded job's manifest (every uploaded file with its sha256 and rows) as indented JSON"
}

func (c *manifestCmd) define(fs *flag.FlagSet) {
	c.orch.define(fs)
	fs.StringVar(&c.out, "out", "", "write the manifest to this `file` instead of stdout (replaced if it exists)")
}

func (c *manifestCmd) validate(env *Env) []string {
	problems := c.orch.validate(env)
	if c.out != "" {
		if fi, err := os.Stat(c.out); err == nil && fi.IsDir() {
			problems = append(problems, fmt.Sprintf("--out %s is a directory; give a file name", c.out))
		}
	}
	return problems
}

func (c *manifestCmd) run(ctx context.Context, env *Env) error {
	raw, err := c.orch.client.manifest(ctx, c.id)
	var api *apiError
	if errors.As(err, &api) && api.Status == http.StatusNotFound {
		return fmt.Errorf("no manifest for job %s (%v); a job has one once it succeeded: `agentctl status %s`", c.id, api, c.id)
	}
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return fmt.Errorf("the orchestrator's manifest for job %s is not JSON: %w", c.id, err)
	}
	b.WriteByte('\n')
	if c.out == "" {
		_, err := env.Stdout.Write(b.Bytes())
		return err
	}
	return writeFileAtomic(c.out, b.Bytes())
}

// writeFileAtomic replaces path with data at once: a reader never sees
// half a manifest, and a failure leaves the old file.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write --out %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write --out %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write --out %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write --out %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write --out %s: %w", path, err)
	}
	return nil
}
