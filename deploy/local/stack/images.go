package stack

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ImageUser is the uid and gid the images run as.
const ImageUser = 65532

// imageOf names the image a bin/ program comes from, "" for programs that
// always run from bin/ (NATS, the reference control plane).
func imageOf(binary string) string {
	switch binary {
	case "daprd", "placement", "scheduler", "sentry":
		return "daprd"
	case "orchestrator", "extractor", "publisher", "health":
		return binary
	}
	return ""
}

// procSpec is how a program of the stack is started: from bin/, or, with
// Options.Images, from its unpacked image through bin/sandbox.
func (s *Stack) procSpec(name, bin string, args, env []string) procSpec {
	spec := procSpec{name: name, bin: bin, args: args, env: append(os.Environ(), env...), dir: s.opts.DataDir}
	img := imageOf(filepath.Base(bin))
	if s.opts.Images == "" || img == "" {
		return spec
	}
	sb := []string{"--root", filepath.Join(s.opts.Images, img), "--rw", s.opts.DataDir,
		"--ro", filepath.Join(s.opts.Root, "components"), "--workdir", s.opts.DataDir}
	for _, r := range append(append([]string{}, s.opts.ExtraResources...), s.opts.ImageBinds...) {
		sb = append(sb, "--ro", r)
	}
	spec.args = append(append(sb, "--", "/"+filepath.Base(bin)), args...)
	spec.bin = s.bin("sandbox")
	spec.cloneflags = syscall.CLONE_NEWNS | syscall.CLONE_NEWPID
	return spec
}

// checkImages makes sure, with Options.Images, that every image the stack
// needs is unpacked there with its programs, and that the sandbox can run.
func (s *Stack) checkImages() error {
	if s.opts.Images == "" {
		return nil
	}
	if os.Geteuid() != 0 {
		return errors.New("running from images (Images) needs root: bin/sandbox mounts the image and drops to uid 65532 itself")
	}
	if _, err := os.Stat(s.bin("sandbox")); err != nil {
		return fmt.Errorf("bin/sandbox is missing: run `make build`: %w", err)
	}
	for _, b := range s.binaries() {
		img := imageOf(b)
		if img == "" {
			continue
		}
		p := filepath.Join(s.opts.Images, img, b)
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("image %s is not unpacked in %s (no /%s): %w", img, s.opts.Images, b, err)
		}
	}
	return nil
}

// handDataDirToImages gives the data dir to the images' user, as a pod's
// fsGroup would: the programs run as 65532 and write there.
func (s *Stack) handDataDirToImages() error {
	if s.opts.Images == "" {
		return nil
	}
	return filepath.WalkDir(s.opts.DataDir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, ImageUser, ImageUser); err != nil {
			return fmt.Errorf("hand %s to uid %d: %w", p, ImageUser, err)
		}
		return nil
	})
}
