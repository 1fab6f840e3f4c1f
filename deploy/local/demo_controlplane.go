package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
)

// cpJob is what the reference control plane's admin API answers for a job.
type cpJob struct {
	Job struct {
		ID     string `json:"id"`
		State  string `json:"state"`
		Leases int    `json:"leases"`
	} `json:"job"`
	Statuses []struct {
		LeaseID string `json:"lease_id"`
		Report  struct {
			State  string   `json:"state"`
			Assets *int64   `json:"assets"`
			Errors []string `json:"errors"`
		} `json:"report"`
	} `json:"statuses"`
	Files []struct {
		SHA256 string `json:"sha256"`
		Name   string `json:"name"`
		Rows   int64  `json:"rows"`
		Bytes  int64  `json:"bytes"`
	} `json:"files"`
	Manifest     json.RawMessage                     `json:"manifest"`
	Logs         []struct{ Lines []json.RawMessage } `json:"logs"`
	DroppedLines int                                 `json:"dropped_lines"`
}

// demoViaControlPlane queues the demo job on the reference control plane
// and follows it there: the agent leases it, runs it, reports each
// transition, and ingests its files, manifest and logs back.
func demoViaControlPlane(ctx context.Context, out io.Writer, s *stack.Stack, root string) error {
	db, err := demoDatabase(ctx, out, s, root)
	if err != nil {
		return err
	}
	spec, _ := json.Marshal(map[string]any{
		"version": 1, "name": "demo", "connection": "default/sqlite/demo",
		"source": map[string]any{"kind": "sqlite", "dsn": db},
	})
	admin := s.ControlPlaneAdminURL()
	var queued struct {
		JobID string `json:"job_id"`
	}
	if err := adminCall(ctx, http.MethodPost, admin+"/jobs", spec, &queued); err != nil {
		return fmt.Errorf("demo: queue the job on the reference control plane: %w", err)
	}
	fmt.Fprintf(out, "==> queued job %s on the reference control plane (%s); the agent polls for it\n", queued.JobID, s.ControlPlaneURL())
	started := time.Now()
	seen := 0
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		var j cpJob
		if err := adminCall(ctx, http.MethodGet, admin+"/jobs/"+queued.JobID, nil, &j); err != nil {
			return fmt.Errorf("demo: read job %s from the reference control plane: %w", queued.JobID, err)
		}
		for _, st := range j.Statuses[seen:] {
			line := fmt.Sprintf("    control plane: job %s %s (lease %s)", queued.JobID, st.Report.State, st.LeaseID)
			if st.Report.Assets != nil && *st.Report.Assets > 0 {
				line += fmt.Sprintf(", %d assets", *st.Report.Assets)
			}
			for _, e := range st.Report.Errors {
				line += "\n      error: " + e
			}
			fmt.Fprintln(out, line)
		}
		seen = len(j.Statuses)
		switch j.Job.State {
		case "succeeded", "failed", "cancelled":
			return summarizeControlPlaneJob(out, j, time.Since(started))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func summarizeControlPlaneJob(out io.Writer, j cpJob, took time.Duration) error {
	var rows, size int64
	for _, f := range j.Files {
		rows += f.Rows
		size += f.Bytes
	}
	lines := 0
	for _, b := range j.Logs {
		lines += len(b.Lines)
	}
	fmt.Fprintf(out, "    ingested: %d files (%d rows, %d bytes, each checked against its sha256), manifest %s\n",
		len(j.Files), rows, size, map[bool]string{true: "received", false: "missing"}[len(j.Manifest) > 0 && string(j.Manifest) != "null"])
	fmt.Fprintf(out, "    logs: %d lines in %d batches so far (%d dropped); more arrive within seconds\n", lines, len(j.Logs), j.DroppedLines)
	if j.Job.State != "succeeded" {
		return fmt.Errorf("job %s ended %s on the control plane after %s", j.Job.ID, j.Job.State, took.Round(100*time.Millisecond))
	}
	fmt.Fprintf(out, "job %s succeeded via the control plane: %d rows in %s\n", j.Job.ID, rows, took.Round(100*time.Millisecond))
	return nil
}

func adminCall(ctx context.Context, method, url string, body []byte, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, v)
}
