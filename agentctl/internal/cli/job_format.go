package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// fmtDuration rounds for people: tenths of a second under a minute,
// whole seconds above.
func fmtDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < time.Minute {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// jobStart is when the job started running, else when it was submitted.
func jobStart(st job.Status) time.Time {
	if st.StartedAt != nil {
		return *st.StartedAt
	}
	return st.SubmittedAt
}

// jobElapsed is the job's run time: until it finished, else until now.
func jobElapsed(st job.Status, now time.Time) time.Duration {
	end := now
	if st.FinishedAt != nil {
		end = *st.FinishedAt
	}
	if jobStart(st).IsZero() {
		return 0
	}
	return end.Sub(jobStart(st))
}

// stateText is "running (extract)", or just the state without a phase.
func stateText(st job.Status) string {
	if st.Phase != "" && !st.State.Terminal() {
		return fmt.Sprintf("%s (%s)", st.State, st.Phase)
	}
	return string(st.State)
}

// kindCounts renders rows per kind in model order, e.g. "table=5 column=20".
func kindCounts(rows map[model.Kind]int64, sep string) string {
	var parts []string
	for _, k := range model.Kinds {
		if n, ok := rows[k]; ok && n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, n))
		}
	}
	return strings.Join(parts, sep)
}

// partitionsDone counts partitions that succeeded.
func partitionsDone(st job.Status) int {
	n := 0
	for _, p := range st.Partitions {
		if p.State == job.Succeeded {
			n++
		}
	}
	return n
}

// jobErrors are the job's errors, else its partitions' errors.
func jobErrors(st job.Status) []string {
	if len(st.Errors) > 0 {
		return st.Errors
	}
	var out []string
	for _, p := range st.Partitions {
		if p.Error != "" {
			out = append(out, p.ID+": "+p.Error)
		}
	}
	return out
}

// warningLines are the job's preflight warnings, one printed line each.
func warningLines(st job.Status) []string {
	out := make([]string, 0, len(st.Warnings))
	for _, w := range st.Warnings {
		out = append(out, "warning: "+oneLine(w))
	}
	return out
}

// manifestLines say where a finished job's output is.
func manifestLines(m *job.ManifestRef, local bool, destDir string) []string {
	if m == nil {
		return []string{"manifest: the orchestrator reported no manifest location; `agentctl manifest ID` fetches it"}
	}
	out := []string{fmt.Sprintf("manifest: binding %s, key %s (%d files, %s)", m.Binding, m.Key, m.Files, fmtBytes(m.Bytes))}
	// Only a file that is there: the orchestrator may be another stack's,
	// or the binding another folder than the one agentctl guesses.
	if path := filepath.Join(destDir, filepath.FromSlash(m.Key)); local && m.Binding == job.DefaultDestination && fileExists(path) {
		out = append(out, "output:   "+path)
	}
	return out
}

func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// fmtTime is a timestamp in the local zone, or "-".
func fmtTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
