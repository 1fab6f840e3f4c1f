package cli

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// peakRSS is the process's peak resident set size in bytes: VmHWM, the
// high-water mark of this program's own memory. getrusage's ru_maxrss is
// only the fallback: Linux carries into it the RSS of the process that
// started this one, as it was when it exec'd (Go starts children with
// vfork, sharing the parent's memory until exec), so a small agentctl run
// by a large parent reported the parent's size. 0 if unknown.
func peakRSS() int64 {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range bytes.Split(b, []byte("\n")) {
			if v, ok := bytes.CutPrefix(l, []byte("VmHWM:")); ok {
				f := bytes.Fields(v)
				if kb, err := strconv.ParseInt(string(f[0]), 10, 64); err == nil && len(f) == 2 {
					return kb << 10
				}
			}
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024
}
