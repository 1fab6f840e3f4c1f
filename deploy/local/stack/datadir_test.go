package stack

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{
		"268435456": 268435456, "256MiB": 256 << 20, "1GiB": 1 << 30, "512KiB": 512 << 10,
		"64MB": 64e6, "2 GiB": 2 << 30, "10B": 10, "0": 0,
	} {
		got, err := ParseBytes(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "lots", "1.5GiB", "-1MiB", "12XB", "99999999999TiB"} {
		_, err := ParseBytes(in)
		require.Error(t, err, in)
	}
}

func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var fs syscall.Statfs_t
	require.NoError(t, syscall.Statfs(dir, &fs))
	return int64(fs.Bavail) * int64(fs.Bsize)
}

func TestFreeSpaceCheckSaysWhatIsNeededAndHowToChangeIt(t *testing.T) {
	dir := t.TempDir()
	// What JetStream would reserve with streams of a quarter of the free space each cannot fit.
	big := freeBytes(t, dir)/4 + 1
	err := checkFreeSpace(dir, "local", big)
	require.Error(t, err)
	for _, want := range []string{"DATA_DIR " + dir, "free; the stack needs about", "8 JetStream streams × SA_STREAM_MAX_BYTES",
		"75% of the free space", "lower SA_STREAM_MAX_BYTES", "would fit here", "point DATA_DIR at a larger disk"} {
		require.Contains(t, err.Error(), want)
	}
	require.NoError(t, checkFreeSpace(dir, "local", 1<<20), "8 MiB of streams fit on the test machine")
	require.NoError(t, checkFreeSpace(dir, "redis", big), "PROFILE=redis runs no JetStream")

	need, _ := spaceNeed("local", DefaultStreamMaxBytes)
	require.Equal(t, int64(8*256<<20*4/3), need, "the default needs 2 GiB of streams within 75%% of the free space")
}

// mountTmpfs mounts a small tmpfs on a new directory (root only, where the
// kernel lets a test do it).
func mountTmpfs(t *testing.T, opts string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small file system needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

func TestA30MiBDataDirIsRefusedWithTheSizeItNeeds(t *testing.T) {
	dir := mountTmpfs(t, "size=30m")
	err := checkFreeSpace(dir, "local", DefaultStreamMaxBytes)
	require.Error(t, err)
	require.Contains(t, err.Error(), "has 30 MiB free; the stack needs about 2.7 GiB")
	require.NotContains(t, err.Error(), "would fit here", "not even the rest of the stack fits in 30 MiB")
}

func TestReadOnlyDataDirIsNamed(t *testing.T) {
	var dir string
	if os.Geteuid() == 0 {
		dir = mountTmpfs(t, "size=1m")
		require.NoError(t, syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""))
	} else {
		dir = t.TempDir()
		require.NoError(t, os.Chmod(dir, 0o500))
		t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	}
	err := checkWritable(dir)
	require.Error(t, err)
	require.Contains(t, err.Error(), "DATA_DIR "+dir+" is not writable")
	require.Contains(t, err.Error(), "point DATA_DIR at another directory")

	err = checkWritable(filepath.Join(dir, "sub"))
	require.Error(t, err)
	require.Contains(t, err.Error(), "DATA_DIR "+filepath.Join(dir, "sub")+" cannot be created")
	require.NoError(t, checkWritable(t.TempDir()))
}

func TestSchedulerIdentitiesDoNotAccumulate(t *testing.T) {
	dir := t.TempDir()
	s := &Stack{opts: Options{DataDir: dir}}
	// What the scheduler leaves (its identity dir is versioned, and the last
	// version survives it), and what earlier launchers left in DATA_DIR.
	for _, d := range []string{"scheduler-tls/1764700000000000000-identity", "1764700000000000001-scheduler-identity", "1764700000000000002-scheduler-identity", "logs", "scheduler"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, d), 0o700))
	}
	require.NoError(t, os.Symlink(filepath.Join(dir, "1764700000000000002-scheduler-identity"), filepath.Join(dir, "scheduler-identity")))
	require.Equal(t, filepath.Join(dir, "scheduler-tls", "identity"), s.schedulerIdentityDir())

	require.NoError(t, s.removeSchedulerIdentities())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.Equal(t, []string{"logs", "scheduler"}, names, "only the scheduler's identities went")
	require.NoError(t, s.removeSchedulerIdentities(), "nothing to remove is fine")
	require.False(t, strings.Contains(strings.Join(names, " "), "identity"))
}
