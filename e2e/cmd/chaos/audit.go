package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
	"github.com/secure-agent/secure-agent/libs/audit"
)

// auditExportFile is where the export is written, in the data dir.
const auditExportFile = "chaos-audit.jsonl"

// duplicateUpload is a file a destination acknowledged more than once.
type duplicateUpload struct {
	jobID, target string // target: "binding:file-name"
	times         int
	entries       []string // "seq at time", for a post-mortem
}

// uploads is what the audit log says of the run's uploads.
type uploads struct {
	dups  []duplicateUpload
	byJob map[string]int // acknowledgements, by job
}

// countUploads exports the audit log with `agentctl audit export` and
// counts, for the jobs given, the upload acknowledgements (the publisher
// records one upload.acknowledged per file or manifest written) and
// lists every target acknowledged more than once.
func countUploads(ctx context.Context, root string, s *stack.Stack, jobs []string) (uploads, error) {
	u := uploads{byJob: map[string]int{}}
	path := filepath.Join(s.DataDir(), auditExportFile)
	out, err := os.Create(path)
	if err != nil {
		return u, err
	}
	defer out.Close()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "bin", "agentctl"), "audit", "export")
	cmd.Env = append(os.Environ(), "SA_DATA_DIR="+s.DataDir(), "SA_HEALTH_URL="+s.AppURL("health"))
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Run(); err != nil {
		return u, fmt.Errorf("agentctl audit export: %v: %s", err, stderr.String())
	}
	if _, err := out.Seek(0, 0); err != nil {
		return u, err
	}
	ours := map[string]bool{}
	for _, id := range jobs {
		ours[id] = true
	}
	type key struct{ job, target string }
	seen := map[key][]string{}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<22)
	for sc.Scan() {
		var l audit.ExportLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return u, fmt.Errorf("%s: %w", path, err)
		}
		if l.Record == nil || l.Record.Pruned {
			continue
		}
		e, err := audit.ParseEntry([]byte(l.Record.Entry))
		if err != nil {
			return u, fmt.Errorf("%s: entry %d: %w", path, l.Record.Seq, err)
		}
		if e.Action == audit.ActionUploadAcknowledged && ours[e.JobID] {
			k := key{e.JobID, e.Target}
			seen[k] = append(seen[k], fmt.Sprintf("%d at %s", e.Seq, e.Time))
			u.byJob[e.JobID]++
		}
	}
	if err := sc.Err(); err != nil {
		return u, err
	}
	for k, acks := range seen {
		if len(acks) > 1 {
			u.dups = append(u.dups, duplicateUpload{jobID: k.job, target: k.target, times: len(acks), entries: acks})
		}
	}
	slices.SortFunc(u.dups, func(a, b duplicateUpload) int {
		return cmp.Or(strings.Compare(a.jobID, b.jobID), strings.Compare(a.target, b.target))
	})
	return u, nil
}
