package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/secure-agent/secure-agent/libs/job"
)

// progressView shows a job's progress while run --wait watches it.
type progressView interface {
	show(st job.Status, now time.Time)
	// note adds a passing remark (the orchestrator stopped answering).
	note(msg string)
	// close ends the display; the final verdict is printed after it.
	close()
}

func newProgressView(env *Env, id string) progressView {
	if width, ok := env.Terminal(env.Stderr); ok {
		if width <= 0 {
			width = 80 // a terminal that does not say (a bare pty): assume the classic width
		}
		return &ttyView{out: env.Stderr, width: width, rate: &rateMeter{}}
	}
	return &lineView{out: env.Stderr, every: env.WatchLineEvery, id: id, rate: &rateMeter{}}
}

// rateMeter turns asset counts seen over time into assets per second over
// the last rateWindow.
type rateMeter struct{ samples []rateSample }

type rateSample struct {
	at     time.Time
	assets int64
}

const rateWindow = 10 * time.Second

func (m *rateMeter) add(at time.Time, assets int64) float64 {
	m.samples = append(m.samples, rateSample{at, assets})
	// Keep the newest sample at least rateWindow old as the base.
	for len(m.samples) > 2 && at.Sub(m.samples[1].at) >= rateWindow {
		m.samples = m.samples[1:]
	}
	first := m.samples[0]
	dt := at.Sub(first.at).Seconds()
	if dt < 0.5 {
		return 0
	}
	return float64(assets-first.assets) / dt
}

// lineView writes one plain line when the state or phase changes and
// every `every` otherwise: logs and CI consoles stay readable.
type lineView struct {
	out     io.Writer
	every   time.Duration
	id      string
	rate    *rateMeter
	last    time.Time
	lastKey string
}

func (v *lineView) show(st job.Status, now time.Time) {
	rate := v.rate.add(now, st.Assets)
	key := string(st.State) + "/" + st.Phase
	if key == v.lastKey && now.Sub(v.last) < v.every {
		return
	}
	v.lastKey, v.last = key, now
	fmt.Fprintln(v.out, plainLine(st, rate, now))
}

func (v *lineView) note(msg string) { fmt.Fprintf(v.out, "job %s: %s\n", v.id, msg) }
func (v *lineView) close()          {}

// plainLine is one progress line, e.g.
// "job j1: running (extract), partitions 1/3, assets 1234 (table=100 column=1134), 150 assets/s, elapsed 12.3s".
func plainLine(st job.Status, rate float64, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "job %s: %s", st.ID, stateText(st))
	if len(st.Partitions) > 0 {
		fmt.Fprintf(&b, ", partitions %d/%d", partitionsDone(st), len(st.Partitions))
	}
	fmt.Fprintf(&b, ", assets %d", st.Assets)
	if kc := kindCounts(st.Rows, " "); kc != "" {
		fmt.Fprintf(&b, " (%s)", kc)
	}
	fmt.Fprintf(&b, ", %.0f assets/s, elapsed %s", rate, fmtDuration(jobElapsed(st, now)))
	return b.String()
}

// ttyView redraws a few lines in place on a terminal.
type ttyView struct {
	out   io.Writer
	width int
	rate  *rateMeter
	drawn int
	msg   string
}

// maxPartitionsShown is how many partitions get their own state on a
// terminal; beyond it only the count is shown.
const maxPartitionsShown = 8

func (v *ttyView) show(st job.Status, now time.Time) {
	rate := v.rate.add(now, st.Assets)
	v.msg = ""
	v.draw(ttyLines(st, rate, now))
}

func (v *ttyView) note(msg string) { v.msg = msg }

func (v *ttyView) close() {}

// draw moves the cursor back over the previous frame and overwrites it,
// one cleared line at a time; lines are cut to the terminal's width so a
// wrapped line never shifts the frame.
func (v *ttyView) draw(lines []string) {
	if v.msg != "" {
		lines[0] += "  [" + v.msg + "]"
	}
	var b strings.Builder
	if v.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dF", v.drawn)
	}
	for _, l := range lines {
		b.WriteString("\x1b[2K")
		b.WriteString(cut(l, v.width))
		b.WriteString("\n")
	}
	for i := len(lines); i < v.drawn; i++ {
		b.WriteString("\x1b[2K\n")
	}
	v.drawn = max(len(lines), v.drawn)
	_, _ = io.WriteString(v.out, b.String())
}

func ttyLines(st job.Status, rate float64, now time.Time) []string {
	lines := []string{fmt.Sprintf("job %s  %s  elapsed %s", st.ID, stateText(st), fmtDuration(jobElapsed(st, now)))}
	parts := fmt.Sprintf("partitions %d/%d done", partitionsDone(st), len(st.Partitions))
	if len(st.Partitions) == 0 {
		parts = "partitions: planning"
	}
	if n := len(st.Partitions); n > 0 && n <= maxPartitionsShown {
		var ps []string
		for _, p := range st.Partitions {
			s := p.ID + " " + string(p.State)
			if p.Attempts > 1 {
				s += fmt.Sprintf(" (attempt %d)", p.Attempts)
			}
			ps = append(ps, s)
		}
		parts += ": " + strings.Join(ps, ", ")
	}
	lines = append(lines, parts)
	assets := fmt.Sprintf("assets %d  %.0f/s", st.Assets, rate)
	if kc := kindCounts(st.Rows, " "); kc != "" {
		assets += "  " + kc
	}
	return append(lines, assets)
}

// cut shortens s to fit width columns (runes; the lines are plain text).
func cut(s string, width int) string {
	r := []rune(s)
	if len(r) < width || width < 2 {
		return s
	}
	return string(r[:width-2]) + "…"
}
