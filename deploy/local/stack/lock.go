package stack

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockFileName is the file in DATA_DIR a running stack holds an exclusive
// flock on. The kernel drops the lock when the launcher's process ends, so
// a crashed or killed launcher never leaves a stale lock behind. Children
// do not inherit it (Go opens files close-on-exec).
const lockFileName = "devstack.lock"

// lockHolder is what the holder writes into the lock file, so a second
// launcher can say who has the directory.
type lockHolder struct {
	PID      int       `json:"pid"`
	PortBase int       `json:"port_base"`
	Profile  string    `json:"profile"`
	Started  time.Time `json:"started"`
}

// dataDirLock is a held lock on a data dir.
type dataDirLock struct{ f *os.File }

// lockDataDir takes the data dir for this stack, or fails at once naming
// the stack that has it.
func lockDataDir(dir string, me lockHolder) (*dataDirLock, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the data dir lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock the data dir (%s): %w", path, err)
		}
		return nil, inUseError(dir, path)
	}
	b, _ := json.Marshal(me)
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt(append(b, '\n'), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("write the data dir lock %s: %w", path, err)
	}
	return &dataDirLock{f: f}, nil
}

func inUseError(dir, path string) error {
	var h lockHolder
	b, _ := os.ReadFile(path)
	if json.Unmarshal(b, &h) != nil || h.PID == 0 {
		return fmt.Errorf("DATA_DIR %s is in use by another stack that is starting (lock %s): wait for it and stop it, or give this stack its own DATA_DIR and SA_PORT_BASE (e.g. DATA_DIR=./data2 SA_PORT_BASE=27000)", dir, path)
	}
	return fmt.Errorf("DATA_DIR %s is in use by another stack: pid %d, SA_PORT_BASE %d, profile %s, started %s. Stop that stack first (Ctrl-C where it runs, or `kill %d`), or give this one its own DATA_DIR and SA_PORT_BASE (e.g. DATA_DIR=./data2 SA_PORT_BASE=%d)",
		dir, h.PID, h.PortBase, h.Profile, h.Started.Local().Format(time.DateTime), h.PID, otherBase(h.PortBase))
}

// otherBase suggests a port base that does not overlap the holder's.
func otherBase(base int) int {
	if base+10000 <= 65535-PortSpan {
		return base + 10000
	}
	return 27000
}

// release empties the holder record and drops the lock; safe to repeat.
// The file stays: removing it could let two launchers lock different files.
func (l *dataDirLock) release() {
	if l == nil || l.f == nil {
		return
	}
	_ = l.f.Truncate(0)
	_ = l.f.Close() // closing drops the flock
	l.f = nil
}
