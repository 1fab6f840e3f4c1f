package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/secure-agent/secure-agent/libs/job"
)

// line is a round's report, e.g.
//
//	kill 17/100  publisher-2-dapr   at +3.2s into job j-…  recovered in 61.4s  job succeeded  assets identical
func (k kill) line(of int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "kill %d/%d  %-19s at +%.1fs into job %s", k.n, of, k.victim, k.at.Seconds(), k.jobID)
	switch {
	case k.interrupted:
		return b.String()
	case k.recovered:
		fmt.Fprintf(&b, "  recovered in %.1fs", k.recovery.Seconds())
	case k.killed && !k.victimBack:
		b.WriteString("  victim NOT BACK")
	case !k.killed:
		b.WriteString("  NOT KILLED")
	default:
		b.WriteString("  not recovered")
	}
	switch {
	case k.stuck:
		fmt.Fprintf(&b, "  job STUCK (%s)", k.state)
	case k.state == job.Succeeded:
		b.WriteString("  job succeeded")
	default:
		fmt.Fprintf(&b, "  job %s", strings.ToUpper(string(k.state)))
	}
	switch {
	case k.state != job.Succeeded || k.stuck:
	case k.diff == "":
		b.WriteString("  assets identical")
	default:
		b.WriteString("  assets DIFFER: " + k.diff)
	}
	if k.endedBeforeKill {
		b.WriteString("  (the job had ended before the kill)")
	}
	if k.retried > 0 {
		fmt.Fprintf(&b, "  (%d partition(s) ran again)", k.retried)
	}
	for _, e := range k.jobErrors {
		b.WriteString("\n    job error: " + e)
	}
	for _, p := range k.problems {
		b.WriteString("\n    " + p)
	}
	return b.String()
}

// summary is the run so far.
type summary struct {
	seed        uint64
	planned     int
	started     time.Time
	referenceID string
	kills       []kill

	jobs, succeeded, failed, stuck, differing int
	killed, notRecovered, unsettled           int
	retried                                   int // partitions that ran again, all jobs

	uploads        uploads
	succeededIDs   []string // jobs that succeeded: each must have recorded uploads
	auditErr       error
	deadLetters    int
	deadLettersErr error
	superErr       error
	loopErr        error
	interrupted    bool
}

func (s *summary) add(k kill) {
	s.kills = append(s.kills, k)
	if k.jobID != "" || k.state != "" {
		s.jobs++
	}
	switch {
	case k.stuck:
		s.stuck++
	case k.state == job.Succeeded:
		s.succeeded++
		s.succeededIDs = append(s.succeededIDs, k.jobID)
	default:
		s.failed++
	}
	if k.state == job.Succeeded && !k.stuck && k.diff != "" {
		s.differing++
	}
	if k.killed {
		s.killed++
		if !k.victimBack {
			s.notRecovered++
		}
	}
	s.retried += k.retried
}

// ok is the verdict: every job succeeded with the reference's assets,
// nothing was uploaded twice, every victim came back.
func (s *summary) ok() bool {
	return s.loopErr == nil && s.superErr == nil && s.auditErr == nil && s.failed == 0 && s.stuck == 0 &&
		s.differing == 0 && len(s.uploads.dups) == 0 && len(s.noUploads()) == 0 && s.notRecovered == 0 && s.unsettled == 0
}

// noUploads are succeeded jobs the audit log records no upload of: the
// duplicate count would not see theirs.
func (s *summary) noUploads() []string {
	if s.auditErr != nil {
		return nil
	}
	var out []string
	for _, id := range s.succeededIDs {
		if s.uploads.byJob[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

func (s *summary) print(w io.Writer) {
	title := "summary"
	if s.interrupted {
		title = "summary so far (interrupted)"
	}
	fmt.Fprintf(w, "\nchaos: %s: seed %d, %s\n", title, s.seed, time.Since(s.started).Round(time.Second))
	fmt.Fprintf(w, "  kills:                %d of %d\n", s.killed, s.planned)
	fmt.Fprintf(w, "  jobs run:             %d (1 undisturbed, %d with a kill)\n", s.jobs, max(s.jobs-1, 0))
	fmt.Fprintf(w, "  jobs succeeded:       %d\n", s.succeeded)
	fmt.Fprintf(w, "  jobs failed:          %d\n", s.failed)
	fmt.Fprintf(w, "  jobs stuck:           %d\n", s.stuck)
	fmt.Fprintf(w, "  asset sets differing: %d (must be 0)\n", s.differing)
	if s.auditErr != nil {
		fmt.Fprintf(w, "  files uploaded twice: unknown: %v\n", s.auditErr)
	} else {
		total := 0
		for _, n := range s.uploads.byJob {
			total += n
		}
		fmt.Fprintf(w, "  files uploaded twice: %d (must be 0; of %d uploads the audit log records for %d jobs)\n", len(s.uploads.dups), total, len(s.uploads.byJob))
		for _, d := range s.uploads.dups {
			fmt.Fprintf(w, "    job %s%s: %s acknowledged %d times (audit entries %s)\n", d.jobID, s.killOf(d.jobID), d.target, d.times, strings.Join(d.entries, ", "))
		}
		for _, id := range s.noUploads() {
			fmt.Fprintf(w, "    job %s%s succeeded but the audit log records no upload of it\n", id, s.killOf(id))
		}
	}
	if k, ok := s.longest(); ok {
		fmt.Fprintf(w, "  longest recovery:     %.1fs (kill %d, %s at +%.1fs)\n", k.recovery.Seconds(), k.n, k.victim, k.at.Seconds())
		fmt.Fprintf(w, "  median recovery:      %.1fs\n", s.median().Seconds())
	}
	if s.notRecovered > 0 {
		fmt.Fprintf(w, "  victims not back:     %d\n", s.notRecovered)
	}
	if s.unsettled > 0 {
		fmt.Fprintf(w, "  rounds not started:   %d (the stack was not healthy)\n", s.unsettled)
	}
	fmt.Fprintf(w, "  partitions run again: %d (after a kill, by redelivery or retry)\n", s.retried)
	if s.deadLettersErr != nil {
		fmt.Fprintf(w, "  dead letters:         unknown: %v\n", s.deadLettersErr)
	} else {
		fmt.Fprintf(w, "  dead letters:         %d\n", s.deadLetters)
	}
	for _, err := range []error{s.loopErr, s.superErr} {
		if err != nil {
			fmt.Fprintf(w, "  error:                %v\n", err)
		}
	}
	verdict := "PASS"
	if !s.ok() {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "  verdict:              %s\n", verdict)
}

// killOf names the kill during job id, if any.
func (s *summary) killOf(id string) string {
	for _, k := range s.kills {
		if k.jobID == id {
			return fmt.Sprintf(" (kill %d, %s)", k.n, k.victim)
		}
	}
	return " (undisturbed)"
}

func (s *summary) recoveries() []kill {
	var out []kill
	for _, k := range s.kills {
		if k.recovered {
			out = append(out, k)
		}
	}
	return out
}

func (s *summary) longest() (kill, bool) {
	rs := s.recoveries()
	if len(rs) == 0 {
		return kill{}, false
	}
	return slices.MaxFunc(rs, func(a, b kill) int { return cmp.Compare(a.recovery, b.recovery) }), true
}

func (s *summary) median() time.Duration {
	var ds []time.Duration
	for _, k := range s.recoveries() {
		ds = append(ds, k.recovery)
	}
	slices.Sort(ds)
	if len(ds)%2 == 1 {
		return ds[len(ds)/2]
	}
	return (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2
}
