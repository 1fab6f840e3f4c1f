// Command sandbox runs one program from an unpacked image the way a hardened
// Kubernetes pod would: in its own mount and PID namespaces (the launcher
// starts it with CLONE_NEWNS|CLONE_NEWPID, so it is PID 1), on a read-only
// root, with a fresh /tmp, only the directories it is given bound in, as
// uid/gid 65532 with no capabilities (bounding set emptied) and
// no_new_privs. It then becomes the program (exec), so signals and exit
// codes are the program's own.
//
//	sandbox --root DIR [--rw PATH]... [--ro PATH]... [--uid N] [--gid N] [--workdir DIR] -- /program args...
//
// It must start as root (mounts, chroot) and refuses to run otherwise.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

func init() {
	// Mount namespace, capability bounding set and no_new_privs are
	// per-thread; everything up to exec happens on this one thread.
	runtime.LockOSThread()
}

type paths []string

func (p *paths) String() string     { return strings.Join(*p, ",") }
func (p *paths) Set(v string) error { *p = append(*p, v); return nil }

type config struct {
	root, workdir string
	rw, ro        paths
	uid, gid      int
	argv          []string
}

func main() {
	var c config
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.StringVar(&c.root, "root", "", "the unpacked image (its root filesystem)")
	fs.Var(&c.rw, "rw", "a host directory bound read-write at the same path (repeatable)")
	fs.Var(&c.ro, "ro", "a host path bound read-only at the same path (repeatable)")
	fs.IntVar(&c.uid, "uid", 65532, "user id to run as")
	fs.IntVar(&c.gid, "gid", 65532, "group id to run as")
	fs.StringVar(&c.workdir, "workdir", "/", "working directory inside the sandbox")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	c.argv = fs.Args()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(126)
	}
}

func run(c config) error {
	if c.root == "" || len(c.argv) == 0 || !strings.HasPrefix(c.argv[0], "/") {
		return errors.New("usage: sandbox --root DIR [--rw PATH]... [--ro PATH]... -- /program args...")
	}
	if os.Geteuid() != 0 {
		return errors.New("must start as root (it mounts and chroots before dropping to the image's user)")
	}
	if os.Getpid() != 1 {
		return errors.New("must be started in a new PID namespace (CLONE_NEWPID): it is not PID 1")
	}
	root, err := filepath.Abs(c.root)
	if err != nil {
		return err
	}
	if err := setupMounts(root, c); err != nil {
		return err
	}
	if err := unix.Chroot(root); err != nil {
		return fmt.Errorf("chroot %s: %w", root, err)
	}
	if err := os.Chdir(c.workdir); err != nil {
		return fmt.Errorf("working directory %s: %w", c.workdir, err)
	}
	if err := dropPrivileges(c.uid, c.gid); err != nil {
		return err
	}
	err = syscall.Exec(c.argv[0], c.argv, os.Environ())
	if errors.Is(err, syscall.ENOENT) {
		if _, serr := os.Stat(c.argv[0]); serr == nil {
			return fmt.Errorf("exec %s: %w: the file is there, so its ELF interpreter is not (a dynamically linked binary in a static image)", c.argv[0], err)
		}
	}
	return fmt.Errorf("exec %s: %w", c.argv[0], err)
}

// setupMounts builds the sandbox's view: the image read-only, a private
// /tmp, /proc of the new PID namespace, a minimal /dev, the host's
// /etc/hosts and /etc/resolv.conf read-only (as the kubelet mounts them),
// and the given host paths at their own locations.
func setupMounts(root string, c config) error {
	// Nothing mounted here may reach the host's mount table.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	// Mount points are created in the unpacked image (as root, on the host
	// directory) or in the new /tmp; they are empty, root-owned, and
	// read-only once the image is.
	for _, t := range []string{"/proc", "/dev", "/tmp", "/etc/hosts", "/etc/resolv.conf"} {
		if err := mountPoint(root, t); err != nil {
			return err
		}
	}
	if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind the image: %w", err)
	}
	if err := unix.Mount("tmpfs", root+"/tmp", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777,size=256m"); err != nil {
		return fmt.Errorf("mount /tmp: %w", err)
	}
	if err := unix.Mount("proc", root+"/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	if err := unix.Mount("tmpfs", root+"/dev", "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755,size=64k"); err != nil {
		return fmt.Errorf("mount /dev: %w", err)
	}
	for _, d := range []string{"null", "zero", "random", "urandom"} {
		if err := os.WriteFile(root+"/dev/"+d, nil, 0o666); err != nil {
			return err
		}
		if err := bind("/dev/"+d, root+"/dev/"+d, false); err != nil {
			return err
		}
	}
	for _, f := range []string{"/etc/hosts", "/etc/resolv.conf"} {
		if _, err := os.Stat(f); err == nil {
			if err := bind(f, root+f, true); err != nil {
				return err
			}
		}
	}
	// The given paths last: their mount points may lie in the new /tmp.
	for _, p := range append(append(paths{}, c.rw...), c.ro...) {
		if p == "/" || strings.HasPrefix(p, "/proc") || strings.HasPrefix(p, "/dev") {
			return fmt.Errorf("%s cannot be bound into the sandbox", p)
		}
		if err := mountPoint(root, p); err != nil {
			return err
		}
	}
	for _, p := range c.rw {
		if err := bind(p, root+p, false); err != nil {
			return err
		}
	}
	for _, p := range c.ro {
		if err := bind(p, root+p, true); err != nil {
			return err
		}
	}
	// Last: the image itself becomes read-only (its submounts keep theirs).
	if err := unix.Mount("", root, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("make the image read-only: %w", err)
	}
	if err := unix.Mount("", root+"/dev", "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("make /dev read-only: %w", err)
	}
	return nil
}

// mountPoint creates an empty directory (or, for a host file, an empty
// file) at target inside root.
func mountPoint(root, target string) error {
	if !filepath.IsAbs(target) || filepath.Clean(target) != target {
		return fmt.Errorf("%q: bind paths must be absolute and clean", target)
	}
	dst := root + target
	fi, err := os.Stat(target)
	if err == nil && !fi.IsDir() {
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if _, err := os.Stat(dst); errors.Is(err, os.ErrNotExist) {
			return os.WriteFile(dst, nil, 0o644)
		}
		return nil
	}
	return os.MkdirAll(dst, 0o755)
}

func bind(src, dst string, readOnly bool) error {
	if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", src, err)
	}
	if readOnly {
		if err := unix.Mount("", dst, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
			return fmt.Errorf("make %s read-only: %w", src, err)
		}
	}
	return nil
}

// dropPrivileges leaves nothing of root: no_new_privs, an empty capability
// bounding set, no supplementary groups, then the ids (which clears the
// effective, permitted and ambient sets).
func dropPrivileges(uid, gid int) error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setresgid(gid, gid, gid); err != nil {
		return fmt.Errorf("setresgid %d: %w", gid, err)
	}
	if err := syscall.Setresuid(uid, uid, uid); err != nil {
		return fmt.Errorf("setresuid %d: %w", uid, err)
	}
	// Changing ids clears the parent-death signal the launcher set; set it
	// again so a killed launcher still leaves nothing running.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("parent-death signal: %w", err)
	}
	return nil
}
