package stack

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSecondLockOnADataDirNamesTheHolder(t *testing.T) {
	dir := t.TempDir()
	started := time.Now()
	first, err := lockDataDir(dir, lockHolder{PID: 4242, PortBase: 17000, Profile: "local", Started: started})
	require.NoError(t, err)

	_, err = lockDataDir(dir, lockHolder{PID: os.Getpid(), PortBase: 27000, Profile: "local", Started: time.Now()})
	require.Error(t, err)
	for _, want := range []string{"DATA_DIR " + dir + " is in use by another stack", "pid 4242", "SA_PORT_BASE 17000", "profile local",
		"started " + started.Format(time.DateTime), "`kill 4242`", "its own DATA_DIR and SA_PORT_BASE", "SA_PORT_BASE=27000"} {
		require.Contains(t, err.Error(), want)
	}

	first.release()
	first.release() // twice is fine
	again, err := lockDataDir(dir, lockHolder{PID: os.Getpid(), PortBase: 27000, Profile: "redis", Started: time.Now()})
	require.NoError(t, err, "a released data dir can be taken")
	again.release()
}

// A launcher killed with SIGKILL runs no cleanup: the kernel must drop its
// lock, or the data dir would stay blocked. The holder here is this test
// binary re-run as a helper process.
func TestLockOfAKilledLauncherIsGone(t *testing.T) {
	if dir := os.Getenv("STACK_TEST_HOLD_LOCK"); dir != "" {
		_, err := lockDataDir(dir, lockHolder{PID: os.Getpid(), PortBase: 23000, Profile: "local", Started: time.Now()})
		if err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("locked\n")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockOfAKilledLauncherIsGone$")
	cmd.Env = append(os.Environ(), "STACK_TEST_HOLD_LOCK="+dir)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "locked\n", line)

	_, err = lockDataDir(dir, lockHolder{PID: os.Getpid(), PortBase: 24000, Profile: "local", Started: time.Now()})
	require.Error(t, err)
	require.Contains(t, err.Error(), "pid "+strconv.Itoa(cmd.Process.Pid)+", SA_PORT_BASE 23000")

	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	l, err := lockDataDir(dir, lockHolder{PID: os.Getpid(), PortBase: 24000, Profile: "local", Started: time.Now()})
	require.NoError(t, err, "the killed holder's lock is gone")
	b, err := os.ReadFile(dir + "/" + lockFileName)
	require.NoError(t, err)
	require.True(t, strings.Contains(string(b), `"port_base":24000`), "the new holder is recorded: %s", b)
	l.release()
}
