package mysql

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

type credentialsError struct{ err error }

func (e *credentialsError) Error() string { return "read the source password: " + e.err.Error() }
func (e *credentialsError) Unwrap() error { return e.err }

// connectError is a failed connect: what happened and what to check, kept
// apart so Preflight can show them as detail and remediation.
type connectError struct {
	what string // "connect to MySQL/MariaDB server at host:port"
	err  error
	fix  string
}

func (e *connectError) Error() string {
	msg := e.what
	if e.err != nil {
		msg += ": " + e.err.Error()
	}
	if e.fix != "" {
		msg += "; " + e.fix
	}
	return msg
}

func (e *connectError) Unwrap() error { return e.err }

func (e *connectError) detail() string {
	if e.err == nil {
		return e.what
	}
	return e.what + ": " + e.err.Error()
}

// connectError explains a failed connect and what to check. Driver errors
// never contain the password.
func (c *Conn) connectError(ctx context.Context, err error) error {
	server := fmt.Sprintf("MySQL/MariaDB server at %s", c.addr)
	connect := "connect to " + server
	var (
		myErr   *mysqldrv.MySQLError
		credErr *credentialsError
		netErr  net.Error
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		inv     x509.CertificateInvalidError
	)
	const reach = "check the host and port, that the server is running, and that no firewall blocks the agent"
	switch {
	case errors.As(err, &credErr):
		return &connectError{connect, err, "check the password secret reference of the source"}
	case ctx.Err() != nil:
		return &connectError{connect, ctx.Err(), ""}
	case errors.As(err, &myErr) && (myErr.Number == 1045 || myErr.Number == 1698):
		return &connectError{fmt.Sprintf("log in to %s as user %q", server, c.user), err,
			"check the user name and the password in the secret store"}
	case errors.As(err, &myErr) && (myErr.Number == 1044 || myErr.Number == 1049):
		return &connectError{connect, err,
			"fix or remove the database name in the DSN (it is only the session's default schema)"}
	case errors.As(err, &myErr) && (myErr.Number == 1040 || myErr.Number == 1053):
		// Too many connections, or the server is shutting down: later may work.
		return unreachable(&connectError{fmt.Sprintf("%s as user %q", connect, c.user), err, "retry later"})
	case errors.As(err, &myErr):
		return &connectError{fmt.Sprintf("%s as user %q", connect, c.user), err, ""}
	case errors.Is(err, mysqldrv.ErrNoTLS):
		return &connectError{connect + ": the server does not offer TLS, but the source requires it (require_tls or tls=true)", nil,
			"enable TLS on the server (ssl_cert, ssl_key), or turn off require_tls if plaintext is acceptable on this network"}
	case errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &inv):
		return &connectError{connect + ": the server's TLS certificate cannot be verified", err,
			"install the server's CA on the agent host, or connect with the host name the certificate was issued for"}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return unreachable(&connectError{fmt.Sprintf("%s: no answer within %s", connect, c.timeout), nil, reach})
	case errors.As(err, &netErr):
		return unreachable(&connectError{connect, err, reach})
	default:
		return &connectError{fmt.Sprintf("%s as user %q", connect, c.user), err, ""}
	}
}

// unreachable marks a connect failure a later attempt may not have: the
// server could not be reached or refused connections for now.
func unreachable(e *connectError) error { return errkind.Wrap(errkind.Transient, e, "") }
