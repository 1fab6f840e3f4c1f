package connector

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"

	"github.com/secure-agent/secure-agent/libs/secret"
)

// Target is one address a driver will dial to log in: the place a password
// handed to it may end up.
type Target struct {
	Network string // "tcp" or "unix"
	Address string // host:port, or the socket path
}

// TCPTarget is a TCP address, host:port as the driver dials it.
func TCPTarget(hostport string) Target { return Target{Network: "tcp", Address: hostport} }

// UnixTarget is a Unix socket path.
func UnixTarget(path string) Target { return Target{Network: "unix", Address: path} }

// String is how bindings and messages write a target: host:port, or
// unix:/path for a socket.
func (t Target) String() string {
	if t.Network == "unix" {
		return "unix:" + t.Address
	}
	return t.Address
}

// Key is the target in the form bindings are compared in: host names
// lower case without a trailing dot, IPv6 in brackets.
func (t Target) Key() (string, error) {
	if t.Network == "unix" {
		if t.Address == "" {
			return "", errors.New("empty socket path")
		}
		return "unix:" + filepath.Clean(t.Address), nil
	}
	host, port, err := net.SplitHostPort(t.Address)
	if err != nil || host == "" || port == "" {
		return "", errors.New("not host:port")
	}
	return net.JoinHostPort(strings.TrimSuffix(strings.ToLower(host), "."), port), nil
}

// BoundCredentials hand out a password only for given destinations: the
// extractor's secrets, which are bound to the hosts they may be sent to.
type BoundCredentials interface {
	PasswordFor(ctx context.Context, to []Target) (secret.Value, error)
}

// PasswordFor asks creds for the password a connection to every one of to
// will carry. Connectors call it, never Password directly, with the
// targets taken from the driver's own parsed configuration, before any
// dial: bound credentials refuse a target outside the binding, and then
// nothing reaches the network. Credentials without a binding (a password
// from agentctl's environment, no password at all) answer Password.
func PasswordFor(ctx context.Context, creds Credentials, to []Target) (secret.Value, error) {
	if b, ok := creds.(BoundCredentials); ok {
		return b.PasswordFor(ctx, to)
	}
	return OrNone(creds).Password(ctx)
}
