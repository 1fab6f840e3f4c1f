// Package dsncheck decides, with the database drivers' own parsers, whether
// a source DSN carries a secret (a password, a key's passphrase, an
// encryption key). Job specs are checked with it before anything is stored,
// and the connectors use the same rules before they connect, so there is
// one answer to "would a driver take a password from this DSN?".
//
// Nothing here echoes a DSN: a DSN that does not parse may hold a password
// in a place the parser did not get to.
package dsncheck

import (
	"errors"
	"fmt"
)

// ErrPassword is what a *SecretError matches: a driver would take a
// password or another secret from the DSN itself.
var ErrPassword = errors.New("the DSN carries a password")

// MaxLen bounds a DSN: far above any real one, and it keeps the
// PostgreSQL check (one parse per parameter) cheap.
const MaxLen = 4096

// ParseError says that a driver cannot parse a DSN, and how to write one.
// It never contains the DSN or a part of it.
type ParseError struct {
	Driver string // "PostgreSQL", "MySQL" or "SQLite"
	Reason string // fixed text, or a driver message known to quote nothing
	Hint   string // an example of a valid DSN
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("the %s driver cannot parse the DSN: %s; %s", e.Driver, e.Reason, e.Hint)
}

// Check refuses a DSN of the given source kind ("postgres", "mysql",
// "sqlite") from which that kind's driver would take a secret (an error
// wrapping ErrPassword), or that the driver cannot parse (a *ParseError).
// For an unknown kind it refuses a DSN in which any of the drivers would
// find a secret, so a typo in the kind does not let one through.
func Check(kind, dsn string) error {
	if len(dsn) > MaxLen {
		return &ParseError{Driver: "source", Reason: fmt.Sprintf("it is %d bytes; the limit is %d", len(dsn), MaxLen),
			Hint: "a DSN names a server or file and its options only"}
	}
	switch kind {
	case "postgres":
		return PostgreSQL(dsn)
	case "mysql":
		return MySQL(dsn)
	case "sqlite":
		return SQLite(dsn)
	}
	for _, check := range []func(string) error{PostgreSQL, MySQL, SQLite} {
		if err := check(dsn); errors.Is(err, ErrPassword) {
			return err
		}
	}
	return nil
}

// SecretError says where in a DSN a driver would find a secret (a part's
// name such as "user:password@" or "parameter sslpassword", never its
// value). It matches ErrPassword.
type SecretError struct{ Where string }

func (e *SecretError) Error() string        { return ErrPassword.Error() + " (" + e.Where + ")" }
func (e *SecretError) Is(target error) bool { return target == ErrPassword }

func secret(where string) error { return &SecretError{Where: where} }
