package e2e

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
	"github.com/secure-agent/secure-agent/libs/job"
)

// unpackImages writes the root filesystem of every image, for this
// machine's platform, into dir/<image>, with the layers' modes and owners.
func unpackImages(t *testing.T, layout, dir string) string {
	t.Helper()
	for name := range images {
		idx := imageIndex(t, layout, name)
		im, err := idx.IndexManifest()
		require.NoError(t, err)
		found := false
		for _, d := range im.Manifests {
			if d.Platform == nil || d.Platform.OS != "linux" || d.Platform.Architecture != runtime.GOARCH {
				continue
			}
			found = true
			img, err := idx.Image(d.Digest)
			require.NoError(t, err)
			layers, err := img.Layers()
			require.NoError(t, err)
			for _, l := range layers {
				rc, err := l.Uncompressed()
				require.NoError(t, err)
				untar(t, rc, filepath.Join(dir, name))
				rc.Close()
			}
		}
		require.True(t, found, "image %s has no linux/%s manifest", name, runtime.GOARCH)
	}
	return dir
}

func untar(t *testing.T, r io.Reader, dst string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dst, 0o755))
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		require.NoError(t, err)
		p := filepath.Join(dst, filepath.Clean("/"+h.Name))
		mode := fs.FileMode(h.Mode & 0o777)
		if h.Mode&0o1000 != 0 {
			mode |= fs.ModeSticky
		}
		switch h.Typeflag {
		case tar.TypeDir:
			require.NoError(t, os.MkdirAll(p, 0o755))
		case tar.TypeReg:
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			require.NoError(t, err)
			_, err = io.Copy(f, tr)
			require.NoError(t, err)
			require.NoError(t, f.Close())
		default:
			t.Fatalf("unexpected entry %s (type %c) in an image layer", h.Name, h.Typeflag)
		}
		require.NoError(t, os.Lchown(p, h.Uid, h.Gid))
		require.NoError(t, os.Chmod(p, mode))
	}
}

// sandboxed runs bin/sandbox as the stack does: PID 1 of new mount and PID namespaces.
func sandboxed(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(root(t), "bin", "sandbox"), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		require.NoError(t, err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// procStatus reads the fields of /proc/<pid>/status.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		m[k] = strings.Join(strings.Fields(v), " ")
	}
	return m
}

// rootMount returns the options of the process's root mount.
func rootMount(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 5 && f[4] == "/" {
			return f[5]
		}
	}
	return ""
}

func nsOf(t *testing.T, pid int, kind string) string {
	t.Helper()
	l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, kind))
	require.NoError(t, err)
	return l
}

// TestImagesRunHardened runs the whole local stack from the images' root
// filesystems instead of bin/, every Dapr and app process confined as a
// hardened pod would be, and runs a job through it. Then it shows the
// confinement bites: an image without its CA bundle, a dynamically linked
// binary, and a write outside /tmp and the data dir each fail.
func TestImagesRunHardened(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("the sandbox needs root (CI runs as root)")
	}
	layout := filepath.Join(distDir(t), "oci")
	roots := unpackImages(t, layout, t.TempDir())

	t.Run("the stack runs confined and a job succeeds", func(t *testing.T) {
		dataDir := stackDataDir(t)
		writeSecrets(t, dataDir)
		db := filepath.Join(dataDir, "demo", "retail.db")
		require.NoError(t, os.MkdirAll(filepath.Dir(db), 0o755))
		out, err := exec.Command(filepath.Join(root(t), "bin", "demodb"), db).CombinedOutput()
		require.NoError(t, err, "%s", out)
		s, err := stack.Start(context.Background(), stack.Options{
			Root: root(t), DataDir: dataDir, Profile: "local", PortBase: 25000, StartTimeout: 3 * time.Minute,
			Progress: &testLog{t: t}, Images: roots,
		})
		require.NoError(t, err)
		supervise(t, s, dataDir)
		a := agent{t: t, s: s}
		id := a.submit(fmt.Sprintf("version: 1\nname: hardened\nconnection: default/sqlite/hardened\nsource:\n  kind: sqlite\n  dsn: '%s'\n", db))
		st := a.wait(id, 3*time.Minute)
		require.Equal(t, job.Succeeded, st.State, "%+v", st)

		me := os.Getpid()
		confined := 0
		for name, pid := range s.Pids() {
			if name == "nats" {
				continue // infrastructure, from bin/
			}
			confined++
			ps := procStatus(t, pid)
			require.Equal(t, "65532 65532 65532 65532", ps["Uid"], name)
			require.Equal(t, "65532 65532 65532 65532", ps["Gid"], name)
			require.Equal(t, "", ps["Groups"], name)
			for _, c := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
				require.Equal(t, "0000000000000000", ps[c], "%s %s", name, c)
			}
			require.Equal(t, "1", ps["NoNewPrivs"], name)
			require.NotEqual(t, nsOf(t, me, "pid"), nsOf(t, pid, "pid"), "%s has its own PID namespace", name)
			require.NotEqual(t, nsOf(t, me, "mnt"), nsOf(t, pid, "mnt"), "%s has its own mount namespace", name)
			require.Contains(t, strings.Split(rootMount(t, pid), ","), "ro", "%s: root filesystem is read-only", name)
			exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
			require.NoError(t, err)
			require.NotContains(t, exe, filepath.Join(root(t), "bin"), "%s runs from its image, not bin/", name)
		}
		require.GreaterOrEqual(t, confined, 11, "sentry, placement, scheduler, 4 apps and 4 sidecars")
		t.Logf("HARDENED %d processes confined (uid 65532, no capabilities, no_new_privs, read-only root, own mount and PID namespaces); job %s %s", confined, id, st.State)
	})

	t.Run("a write outside /tmp and the data dir fails", func(t *testing.T) {
		db := demoDB(t)
		require.NoError(t, os.Chmod(filepath.Dir(db), 0o755))
		require.NoError(t, os.Chmod(db, 0o644))
		args := []string{"--root", filepath.Join(roots, "agentctl"), "--ro", filepath.Dir(db), "--", "/agentctl", "extract", "--source", "sqlite", "--dsn", db}
		code, out := sandboxed(t, append(args, "--out", "/out")...)
		require.NotEqual(t, 0, code, out)
		require.Contains(t, out, "read-only file system", out)
		t.Logf("REFUSED as it must be: agentctl extract --out /out: %s", strings.TrimSpace(out))
		code, out = sandboxed(t, append(args, "--out", "/tmp/out")...)
		require.Equal(t, 0, code, out)
	})

	// variant is a copy of the unpacked images in which one image is
	// changed; the others are links to the originals.
	variant := func(t *testing.T, changed string, change func(dir string)) string {
		t.Helper()
		dir := t.TempDir()
		for name := range images {
			if name != changed {
				require.NoError(t, os.Symlink(filepath.Join(roots, name), filepath.Join(dir, name)))
			}
		}
		require.NoError(t, os.CopyFS(filepath.Join(dir, changed), os.DirFS(filepath.Join(roots, changed))))
		change(filepath.Join(dir, changed))
		return dir
	}
	// Port bases stay below 32768, where Linux picks ephemeral ports.
	startFails := func(t *testing.T, imgs string, portBase int) error {
		dataDir := t.TempDir()
		writeSecrets(t, dataDir)
		s, err := stack.Start(context.Background(), stack.Options{
			Root: root(t), DataDir: dataDir, Profile: "local", PortBase: portBase, StartTimeout: 2 * time.Minute,
			Progress: &testLog{t: t}, Images: imgs,
		})
		if err == nil {
			_ = s.Stop()
			t.Fatal("the stack started")
		}
		require.Empty(t, processesIn(t, dataDir), "processes left behind")
		t.Logf("REFUSED as it must be: %v", err)
		return err
	}
	t.Run("an image without its CA bundle fails", func(t *testing.T) {
		imgs := variant(t, "orchestrator", func(dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, "etc", "ssl", "certs", "ca-certificates.crt")))
		})
		err := startFails(t, imgs, 25200)
		require.ErrorContains(t, err, "SSL_CERT_FILE")
		require.ErrorContains(t, err, "lacks its CA bundle")
	})
	t.Run("a dynamically linked binary fails", func(t *testing.T) {
		imgs := variant(t, "health", func(dir string) {
			// The host's true(1) is linked against libc, as is any binary
			// built with cgo (bin/ is static, like the images).
			trueBin, err := exec.LookPath("true")
			require.NoError(t, err)
			b, err := os.ReadFile(trueBin)
			require.NoError(t, err)
			require.NoError(t, os.Chmod(filepath.Join(dir, "health"), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "health"), b, 0o755))
		})
		err := startFails(t, imgs, 25400)
		require.ErrorContains(t, err, "ELF interpreter")
	})
}
