package stack

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is one child of the stack. Its output goes, line by line and
// prefixed with its name, to the console and to data/logs/<name>.log.
type process struct {
	name string
	spec procSpec // to start it again
	cmd  *exec.Cmd
	done chan struct{}
	err  error // valid after done

	mu     sync.Mutex
	tail   []string // last lines, for error reports
	errors []string // last error/fatal lines: usually the reason it died
}

const tailLines = 30

type procSpec struct {
	name string
	bin  string
	args []string
	env  []string
	dir  string
	// cloneflags are namespaces the child starts in (the sandbox's mount
	// and PID namespaces).
	cloneflags uintptr
}

func startProcess(spec procSpec, console *lineWriter, logDir string) (*process, error) {
	logFile, err := os.OpenFile(logDir+"/"+spec.name+".log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log for %s: %w", spec.name, err)
	}
	cmd := exec.Command(spec.bin, spec.args...)
	cmd.Dir = spec.dir
	cmd.Env = spec.env
	// Own process group so a stop reaches grandchildren; Pdeathsig so that
	// even a SIGKILLed launcher leaves nothing running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Cloneflags: spec.cloneflags}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &process{name: spec.name, spec: spec, cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		pw.Close()
		return nil, fmt.Errorf("start %s (%s): %w", spec.name, spec.bin, err)
	}
	var copied sync.WaitGroup
	copied.Add(1)
	go func() {
		defer copied.Done()
		defer logFile.Close()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			p.remember(line)
			_, _ = fmt.Fprintln(logFile, line)
			console.WriteLine(spec.name, line)
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		p.err = cmd.Wait()
		pw.Close()
		copied.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) remember(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tail = append(p.tail, line)
	if len(p.tail) > tailLines {
		p.tail = p.tail[len(p.tail)-tailLines:]
	}
	if isErrorLine(line) {
		p.errors = append(p.errors, line)
		if len(p.errors) > 5 {
			p.errors = p.errors[len(p.errors)-5:]
		}
	}
}

// isErrorLine recognises error and fatal lines in the formats our children
// use: Dapr's logfmt, zap/etcd JSON and console, and NATS.
func isErrorLine(line string) bool {
	for _, m := range []string{"level=fatal", "level=error", `"level":"fatal"`, `"level":"error"`, "\tERROR\t", "\tFATAL\t", "[FTL]", "[ERR]"} {
		if strings.Contains(line, m) {
			return true
		}
	}
	return false
}

// Reason returns the last error lines the process printed, if any.
func (p *process) Reason() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.errors, "\n")
}

// Tail returns the last lines the process printed.
func (p *process) Tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.tail
	if len(t) > n {
		t = t[len(t)-n:]
	}
	return strings.Join(t, "\n")
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitError describes how a process ended, with its last lines.
func (p *process) exitError() error {
	state := "exited"
	if p.err != nil {
		state = p.err.Error()
	}
	if r := p.Reason(); r != "" {
		return fmt.Errorf("%s stopped during start-up (%s); it reported:\n%s\nfull log: %s.log in the data dir's logs/", p.name, state, indent(r), p.name)
	}
	return fmt.Errorf("%s stopped during start-up (%s); its last lines:\n%s", p.name, state, indent(p.Tail(15)))
}

// stop sends SIGTERM to the process group, waits up to grace, then SIGKILLs it.
func (p *process) stop(grace time.Duration) error {
	if p.exited() {
		return nil
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s did not stop within %s and was killed", p.name, grace)
	}
	// Anything left in the group (a grandchild) goes too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return nil
}

// Pid is the child's process id.
func (p *process) Pid() int { return p.cmd.Process.Pid }

func indent(s string) string {
	if s == "" {
		return "    (no output)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// lineWriter serialises prefixed lines from many processes onto one writer.
type lineWriter struct {
	mu    sync.Mutex
	w     io.Writer
	width int
}

func newLineWriter(w io.Writer) *lineWriter {
	width := 0
	for _, n := range append([]string{"nats", "sentry", "placement", "scheduler"}, appSlots...) {
		if l := len(n) + len("-dapr"); l > width {
			width = l
		}
	}
	return &lineWriter{w: w, width: width}
}

func (l *lineWriter) WriteLine(name, line string) {
	if l == nil || l.w == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = fmt.Fprintf(l.w, "%-*s | %s\n", l.width, name, line)
}
