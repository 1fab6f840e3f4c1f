package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// socket is one listening (TCP) or bound (UDP) socket of a process.
type socket struct {
	proc, proto string
	ip          net.IP
	port        int
}

func (s socket) loopback() bool { return s.ip.IsLoopback() }

func (s socket) String() string {
	return fmt.Sprintf("%s %s %s", s.proc, s.proto, net.JoinHostPort(s.ip.String(), strconv.Itoa(s.port)))
}

// listeningSockets lists the sockets the processes listen on, from
// /proc/<pid>/fd (which sockets are theirs) and /proc/<pid>/net/{tcp,tcp6,
// udp,udp6} (what each is bound to).
func listeningSockets(t *testing.T, pids map[string]int) []socket {
	t.Helper()
	var out []socket
	for name, pid := range pids {
		inodes := map[string]bool{}
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		require.NoError(t, err, "read the descriptors of %s (pid %d)", name, pid)
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
			if err == nil && strings.HasPrefix(link, "socket:[") {
				inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
			}
		}
		for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, proto))
			require.NoError(t, err)
			for _, line := range strings.Split(string(b), "\n")[1:] {
				f := strings.Fields(line)
				if len(f) < 10 || !inodes[f[9]] {
					continue
				}
				listening := f[3] == "0A" // TCP_LISTEN
				if strings.HasPrefix(proto, "udp") {
					listening = f[3] == "07" && strings.HasSuffix(f[2], ":0000") // unconnected, bound
				}
				if !listening {
					continue
				}
				ip, port := parseProcAddr(t, f[1])
				out = append(out, socket{proc: name, proto: proto, ip: ip, port: port})
			}
		}
	}
	return out
}

// parseProcAddr decodes "0100007F:1F90": the address in 32-bit words of
// host byte order (little-endian here), the port big-endian.
func parseProcAddr(t *testing.T, s string) (net.IP, int) {
	hostHex, portHex, ok := strings.Cut(s, ":")
	require.True(t, ok, s)
	raw, err := hex.DecodeString(hostHex)
	require.NoError(t, err)
	for i := 0; i+4 <= len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	port, err := strconv.ParseInt(portHex, 16, 32)
	require.NoError(t, err)
	return net.IP(raw), int(port)
}

func TestParseProcAddr(t *testing.T) {
	ip, port := parseProcAddr(t, "0100007F:1F90")
	require.Equal(t, "127.0.0.1", ip.String())
	require.Equal(t, 8080, port)
	ip, _ = parseProcAddr(t, "00000000000000000000000001000000:0050")
	require.Equal(t, "::1", ip.String())
	ip, _ = parseProcAddr(t, "00000000:0050")
	require.False(t, socket{ip: ip}.loopback(), "0.0.0.0 is not loopback")
}

func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ln
}

func randomSuffix(t *testing.T) string {
	b := make([]byte, 8)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}
