//go:build unix

package sqlite_test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// childEnv makes the test binary, re-run as an unprivileged user, only open
// the file it names and print the error.
const childEnv = "SQLITE_CONNECTOR_TEST_OPEN"

const nobody = 65534

// The SQLite counterpart of "a user without catalog privileges": a file or
// directory the agent's user may not read. root reads everything, so as
// root the test runs that part of itself as nobody.
func TestPermissionDenied(t *testing.T) {
	if path := os.Getenv(childEnv); path != "" {
		_, err := openErr(source(path))
		fmt.Printf("OPEN-RESULT: %v\n", err)
		return
	}
	base := t.TempDir()
	require.NoError(t, os.Chmod(base, 0o755))
	require.NoError(t, os.Chmod(filepath.Dir(base), 0o755))

	noRead := filepath.Join(base, "secret.db")
	require.NoError(t, os.Rename(createDB(t, "a.db", "CREATE TABLE a (x);"), noRead))
	require.NoError(t, os.Chmod(noRead, 0o000))

	closed := filepath.Join(base, "closed")
	require.NoError(t, os.Mkdir(closed, 0o700))
	inClosed := filepath.Join(closed, "inside.db")
	require.NoError(t, os.Rename(createDB(t, "b.db", "CREATE TABLE a (x);"), inClosed))
	require.NoError(t, os.Chmod(closed, 0o000))
	t.Cleanup(func() { os.Chmod(closed, 0o700) }) //nolint:errcheck // lets TempDir remove it

	tests := []struct {
		name, path string
		want       []string
	}{
		{"file without read permission", noRead, []string{"secret.db", "permission denied", "grant the agent's user read permission"}},
		{"directory without search permission", inClosed, []string{"inside.db", "permission denied on a directory", "search (x) permission"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var msg string
			if os.Geteuid() != 0 {
				_, err := openErr(source(tc.path))
				require.Error(t, err)
				msg = err.Error()
			} else {
				msg = openAsNobody(t, base, tc.path)
			}
			for _, w := range tc.want {
				require.Contains(t, msg, w)
			}
		})
	}
}

// openAsNobody runs a copy of the test binary as nobody (the original's
// build directory is private to root) and returns the error it printed.
func openAsNobody(t *testing.T, dir, path string) string {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	bin := filepath.Join(dir, "child.test")
	if _, err := os.Stat(bin); err != nil {
		copyFile(t, self, bin)
	}
	cmd := exec.Command(bin, "-test.run=^TestPermissionDenied$", "-test.count=1")
	cmd.Env = []string{childEnv + "=" + path, "PATH=/usr/bin:/bin", "HOME=/nonexistent"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(err.Error(), "operation not permitted") {
		t.Skipf("cannot switch to uid %d here (%v): the permission case needs a non-root user", nobody, err)
	}
	require.NoError(t, err, "child run: %s", out)
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "OPEN-RESULT: "); ok {
			require.NotEqual(t, "<nil>", rest, "nobody could open %s", path)
			return rest
		}
	}
	t.Fatalf("child printed no result: %s", out)
	return ""
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
}
