package stack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// checkWritable makes sure dir exists and the launcher can create files in
// it, before anything else touches it: a read-only or foreign-owned
// DATA_DIR is reported as such, not as the first unlink that fails.
func checkWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("DATA_DIR %s cannot be created: %w; point DATA_DIR at a directory you can write to", dir, errors.Unwrap(err))
	}
	f, err := os.CreateTemp(dir, ".devstack-write-check-*")
	if err != nil {
		return fmt.Errorf("DATA_DIR %s is not writable (%v): the stack keeps its logs, state, broker streams and CA there; make it writable (e.g. `chmod u+w %s`, or remount it read-write) or point DATA_DIR at another directory",
			dir, errors.Unwrap(err), dir)
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name)
}

// DefaultStreamMaxBytes is the size limit of each JetStream stream
// (SA_STREAM_MAX_BYTES). Messages are small events (files travel through
// the staging store), so a quarter GiB holds days of traffic; past it the
// oldest messages, already delivered, are discarded.
const DefaultStreamMaxBytes int64 = 256 << 20

// baseSpaceNeed is what the stack writes besides the streams: the
// scheduler's etcd preallocates a 64 MiB WAL (about 125 MiB in a fresh
// data dir), plus logs, state, the CA and a little room for demo jobs.
const baseSpaceNeed int64 = 256 << 20

// jetStreamShare is the part of the free space nats-server lets JetStream
// reserve (it takes 75% of what is available when it starts).
const jetStreamShare = 0.75

// spaceNeed is the free space a stack needs in DATA_DIR, and how it is made up.
func spaceNeed(profile string, streamMaxBytes int64) (int64, string) {
	if profile != "local" {
		return baseSpaceNeed, fmt.Sprintf("%s for the scheduler's etcd, logs and state", formatBytes(baseSpaceNeed))
	}
	streams := int64(len(Topics)) * streamMaxBytes
	// JetStream refuses a stream whose limit does not fit in 75% of the
	// free space, and the rest of the stack needs its own share.
	need := max(int64(float64(streams)/jetStreamShare), streams+baseSpaceNeed)
	return need, fmt.Sprintf("%d JetStream streams × SA_STREAM_MAX_BYTES %s = %s reserved, which nats-server accepts only within 75%% of the free space, and %s for the scheduler's etcd, logs and state",
		len(Topics), formatBytes(streamMaxBytes), formatBytes(streams), formatBytes(baseSpaceNeed))
}

// checkFreeSpace fails when dir's file system has less room than the stack
// needs, saying how much, why, and what to change.
func checkFreeSpace(dir, profile string, streamMaxBytes int64) error {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return fmt.Errorf("free space of DATA_DIR %s: %w", dir, err)
	}
	free := int64(fs.Bavail) * int64(fs.Bsize)
	need, why := spaceNeed(profile, streamMaxBytes)
	if free >= need {
		return nil
	}
	fix := "free some space or point DATA_DIR at a larger disk"
	if profile == "local" {
		// The largest stream limit that would fit, rounded down to a MiB.
		fit := min(int64(float64(free)*jetStreamShare), free-baseSpaceNeed) / int64(len(Topics)) >> 20 << 20
		if fit >= 1<<20 {
			fix += fmt.Sprintf(", or lower SA_STREAM_MAX_BYTES (%s would fit here)", formatBytes(fit))
		}
	}
	return fmt.Errorf("DATA_DIR %s has %s free; the stack needs about %s: %s. To start, %s",
		dir, formatBytes(free), formatBytes(need), why, fix)
}

// ParseBytes reads a size such as 268435456, 256MiB, 1GiB, 512KiB or 64MB
// (binary and decimal units; B optional).
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
	}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	var n int64
	if _, err := fmt.Sscanf(t, "%d", &n); err != nil || fmt.Sprint(n) != t || n < 0 {
		return 0, fmt.Errorf("%q is not a size: use a whole number of bytes or one with a unit, such as 256MiB or 1GiB", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

// schedulerIdentityDir is where the scheduler writes its mTLS identity.
// It writes a fresh "<nanoseconds>-identity" directory beside that path on
// every start and swaps a symlink onto the path; the last one is never
// deleted, so the launcher keeps them all in one folder of their own and
// removes it before each start and after each stop.
func (s *Stack) schedulerIdentityDir() string { return s.dir("scheduler-tls", "identity") }

// removeSchedulerIdentities deletes the scheduler's identity folder and what
// older launchers left: DATA_DIR/scheduler-identity (a symlink) and one
// DATA_DIR/<n>-scheduler-identity directory per start.
func (s *Stack) removeSchedulerIdentities() error {
	old, _ := filepath.Glob(s.dir("[0-9]*-scheduler-identity"))
	for _, p := range append([]string{s.dir("scheduler-tls"), s.dir("scheduler-identity")}, old...) {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("remove the scheduler's old identity %s: %w", p, err)
		}
	}
	return nil
}

// claimDataDir checks DATA_DIR before anything touches it: writable, not
// used by another stack (the lock is held until Stop), and with room for
// what the stack will reserve.
func (s *Stack) claimDataDir() error {
	if err := checkWritable(s.opts.DataDir); err != nil {
		return err
	}
	l, err := lockDataDir(s.opts.DataDir, lockHolder{PID: os.Getpid(), PortBase: s.ports.Base, Profile: s.opts.Profile, Started: time.Now()})
	if err != nil {
		return err
	}
	if err := checkFreeSpace(s.opts.DataDir, s.opts.Profile, s.streamMaxBytes()); err != nil {
		l.release()
		return err
	}
	s.lock = l
	return nil
}

func (s *Stack) streamMaxBytes() int64 {
	if s.opts.StreamMaxBytes > 0 {
		return s.opts.StreamMaxBytes
	}
	return DefaultStreamMaxBytes
}

// checkInputs checks the files the operator edits, all at once, before a
// sidecar reads them: the local secret store's file and the sidecar
// Configurations.
func (s *Stack) checkInputs() error {
	sample := filepath.Join(s.opts.Root, "deploy", "local", "secrets.sample.json")
	return errors.Join(
		validateSecretsFile(s.dir("secrets.json"), sample),
		validateConfigurations(filepath.Join(s.opts.Root, "components", "config")),
	)
}
