package postgres

import (
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/logging"
)

// actionError is a problem with the action that fixes it; Preflight shows
// the action as a check's remediation.
type actionError struct {
	problem string // what is wrong, for whom, where
	action  string // what to do
	cause   error  // may be nil
}

func (e *actionError) Error() string {
	if e.cause == nil {
		return e.problem + ": " + e.action
	}
	return e.problem + ": " + e.action + ": " + e.cause.Error()
}

func (e *actionError) Unwrap() error { return e.cause }

// remediationOf returns the action of an actionError in err's chain.
func remediationOf(err error) string {
	var ae *actionError
	if errors.As(err, &ae) {
		return ae.action
	}
	return "see the detail"
}

// scrubbedError keeps the cause for errors.Is/As while its text never
// shows the secret.
type scrubbedError struct {
	err    error
	secret string
}

func (e scrubbedError) Error() string { return scrub(e.err.Error(), e.secret) }
func (e scrubbedError) Unwrap() error { return e.err }

// scrub removes a known secret from a message built by a library, in
// every form a server may echo it (logging.SecretForms).
func scrub(msg, secret string) string {
	return logging.RedactSecret(msg, secret)
}

// readError wraps a failed catalog read with the database and, where the
// cause is known, what to do.
func (c *Connector) readError(what, db string, err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		wrapped := fmt.Errorf("read %s of database %s at %s: %w", what, db, c.server(), err)
		if pgconn.Timeout(err) || isConnectionLost(err) {
			return errkind.Wrap(errkind.Transient, wrapped, "")
		}
		return wrapped
	}
	switch pgErr.Code {
	case codeLockNotAvailable:
		return &actionError{
			problem: fmt.Sprintf("read %s of database %s at %s: waited too long for a relation another session holds exclusively", what, db, c.server()),
			action:  "some DDL (ALTER TABLE, VACUUM FULL, CLUSTER, ...) is running; retry the extraction when it has finished",
			cause:   err,
		}
	case codeOutOfMemory:
		return &actionError{
			problem: fmt.Sprintf("read %s of database %s at %s: the server ran out of lock table space", what, db, c.server()),
			action: "reading view definitions locks every relation the views read; raise max_locks_per_transaction on the server, " +
				"or exclude the view_definition field for this source",
			cause: err,
		}
	case codeInsufficientPrivilege:
		return &actionError{
			problem: fmt.Sprintf("read %s of database %s at %s: permission denied", what, db, c.server()),
			action: fmt.Sprintf("the user %q needs SELECT on the pg_catalog tables (the default for every role): "+
				"ask the DBA to restore it, e.g. GRANT SELECT ON ALL TABLES IN SCHEMA pg_catalog TO %s",
				c.cfg.User, pgx.Identifier{c.cfg.User}.Sanitize()),
			cause: err,
		}
	default:
		wrapped := fmt.Errorf("read %s of database %s at %s: %w", what, db, c.server(), err)
		if transientCode(pgErr.Code) {
			return errkind.Wrap(errkind.Transient, wrapped, "")
		}
		return wrapped
	}
}

// isConnectionLost reports a connection that broke during a read (the
// server restarted, the network dropped).
func isConnectionLost(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
