package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
)

// A second stack on a data dir another stack uses must fail at once, naming
// the holder, without touching the first one's files; once the first stops,
// it leaves no scheduler identity behind.
func TestLauncherRefusesASecondStackOnTheSameDataDir(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	writeSecrets(t, dataDir)
	first, err := stack.Start(context.Background(), stack.Options{
		Root: root(t), DataDir: dataDir, Profile: "local", PortBase: 28000, StartTimeout: 3 * time.Minute, Progress: &testLog{t: t},
	})
	require.NoError(t, err)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = first.Stop()
		}
	})
	link := filepath.Join(dataDir, "scheduler-tls", "identity")
	target, err := os.Readlink(link)
	require.NoError(t, err, "the scheduler wrote its identity")
	logs := logFiles(t, dataDir)

	start := time.Now()
	code, out := runBin(t, "devstack", 30*time.Second,
		"SA_ROOT="+root(t), "DATA_DIR="+dataDir, "SA_PORT_BASE=28200", "QUIET=1", "DEMO=0")
	took := time.Since(start)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "DATA_DIR "+dataDir+" is in use by another stack: pid "+strconv.Itoa(os.Getpid())+", SA_PORT_BASE 28000")
	require.Contains(t, out, "Stop that stack first")
	require.Less(t, took, 10*time.Second, "refused at once, not after a start-up timeout:\n%s", out)
	require.NotContains(t, out, "==> starting", "nothing was started:\n%s", out)
	t.Logf("second launcher said (after %s):\n%s", took.Round(time.Millisecond), out)

	got, err := os.Readlink(link)
	require.NoError(t, err, "the first stack's scheduler identity is still there")
	require.Equal(t, target, got)
	require.Equal(t, logs, logFiles(t, dataDir), "the second launcher opened no log of its own")
	for _, f := range logs {
		b, err := os.ReadFile(filepath.Join(dataDir, "logs", f))
		require.NoError(t, err)
		require.NotRegexp(t, `:28[23]\d\d\b`, string(b), "%s mentions a port of the second stack", f)
	}
	h, err := first.Health(context.Background(), "orchestrator")
	require.NoError(t, err, "the first stack is unharmed")
	require.Equal(t, "orchestrator", h.App)

	require.NoError(t, first.Stop())
	stopped = true
	entries, err := os.ReadDir(dataDir)
	require.NoError(t, err)
	for _, e := range entries {
		require.NotContains(t, e.Name(), "identity", "the scheduler's identity (and its private key) is removed when the stack stops")
	}
	require.NoDirExists(t, filepath.Join(dataDir, "scheduler-tls"))
}

// logFiles lists a stack's log files (the first stack keeps writing to
// them, so their sizes prove nothing).
func logFiles(t *testing.T, dataDir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dataDir, "logs", "*.log"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for i, f := range files {
		files[i] = filepath.Base(f)
	}
	return files
}

// mountSmall mounts a tmpfs with opts for a test (root only).
func mountSmall(t *testing.T, opts string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small or read-only file system needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

func TestLauncherSaysHowMuchSpaceItNeeds(t *testing.T) {
	t.Parallel()
	t.Run("a 30 MiB data dir", func(t *testing.T) {
		dataDir := mountSmall(t, "size=30m")
		code, out := runBin(t, "devstack", 20*time.Second, "SA_ROOT="+root(t), "DATA_DIR="+dataDir, "SA_PORT_BASE=28400", "QUIET=1", "DEMO=0")
		require.Equal(t, 1, code, out)
		// 30 MiB less the launcher's lock file.
		require.Regexp(t, `DATA_DIR `+regexp.QuoteMeta(dataDir)+` has (29|30) MiB free; the stack needs about 2\.7 GiB`, out)
		require.Contains(t, out, "8 JetStream streams × SA_STREAM_MAX_BYTES 256 MiB")
		require.Contains(t, out, "point DATA_DIR at a larger disk")
		require.NoDirExists(t, filepath.Join(dataDir, "nats"), "checked before anything started")
		t.Logf("launcher said:\n%s", out)
	})
	t.Run("streams larger than the disk", func(t *testing.T) {
		dataDir := t.TempDir()
		code, out := runBin(t, "devstack", 20*time.Second, "SA_ROOT="+root(t), "DATA_DIR="+dataDir, "SA_PORT_BASE=28400", "QUIET=1", "DEMO=0",
			"SA_STREAM_MAX_BYTES=100TiB")
		require.Equal(t, 1, code, out)
		require.Contains(t, out, "DATA_DIR "+dataDir+" has ")
		require.Contains(t, out, "SA_STREAM_MAX_BYTES 102400 GiB = 819200 GiB reserved")
		require.Contains(t, out, "lower SA_STREAM_MAX_BYTES")
		require.NoDirExists(t, filepath.Join(dataDir, "nats"), "checked before anything started")
	})
	t.Run("not a size", func(t *testing.T) {
		code, out := runBin(t, "devstack", 10*time.Second, "SA_ROOT="+root(t), "DATA_DIR="+t.TempDir(), "SA_STREAM_MAX_BYTES=huge")
		require.Equal(t, 1, code, out)
		require.Contains(t, out, "SA_STREAM_MAX_BYTES")
		require.Contains(t, out, "256MiB or 1GiB")
	})
}

func TestLauncherSaysTheDataDirIsNotWritable(t *testing.T) {
	t.Parallel()
	var dataDir string
	if os.Geteuid() == 0 {
		dataDir = mountSmall(t, "size=1m")
		require.NoError(t, syscall.Mount("", dataDir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""))
	} else {
		dataDir = t.TempDir()
		require.NoError(t, os.Chmod(dataDir, 0o500))
		t.Cleanup(func() { _ = os.Chmod(dataDir, 0o700) })
	}
	code, out := runBin(t, "devstack", 10*time.Second, "SA_ROOT="+root(t), "DATA_DIR="+dataDir, "SA_PORT_BASE=28400", "QUIET=1", "DEMO=0")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "DATA_DIR "+dataDir+" is not writable")
	require.Contains(t, out, "point DATA_DIR at another directory")
	require.NotContains(t, out, "unlinkat")
}

func TestLauncherNamesABrokenSecretsFile(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	secrets := filepath.Join(dataDir, "secrets.json")
	require.NoError(t, os.WriteFile(secrets, []byte("{\n  \"demo-source-password\": \"s3cr3t-value\",\n  \"controlplane-client-id\": \"x\"\n  \"controlplane-client-secret\": \"y\"\n}\n"), 0o600))
	code, out := runBin(t, "devstack", 15*time.Second, "SA_ROOT="+root(t), "DATA_DIR="+dataDir, "SA_PORT_BASE=28600", "QUIET=1", "DEMO=0")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "secret file "+secrets+" is not valid JSON: line 4, column 3")
	require.Contains(t, out, "move it aside and the launcher writes a fresh one")
	require.NotContains(t, out, "s3cr3t-value")
	require.NotContains(t, out, "==> starting", "nothing was started:\n%s", out)
}

func TestLauncherNamesABrokenConfiguration(t *testing.T) {
	t.Parallel()
	fr := fakeRoot(t)
	f := filepath.Join(fr, "components", "config", "publisher.yaml")
	b, err := os.ReadFile(f)
	require.NoError(t, err)
	broken := strings.Replace(string(b), "  accessControl:\n", "  accessControl\n", 1)
	require.NotEqual(t, string(b), broken)
	require.NoError(t, os.WriteFile(f, []byte(broken), 0o600))
	code, out := runBin(t, "devstack", 15*time.Second, "SA_ROOT="+fr, "DATA_DIR="+t.TempDir(), "SA_PORT_BASE=28800", "QUIET=1", "DEMO=0")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, f+": not valid YAML: line ")
	require.NotContains(t, out, "==> starting", "nothing was started:\n%s", out)
}
