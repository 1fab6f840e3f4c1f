package dsncheck

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// postgresSecretKeys are the connection parameters that carry a secret:
// the password (also written as user:password@ in a URL, which pgconn
// stores under the same key) and the passphrase of the client key.
var postgresSecretKeys = []string{"password", "sslpassword"}

const postgresHint = "write postgres://user@host:5432/dbname?sslmode=require (percent-encode %, @, :, / and spaces in values) " +
	"or host=... user=... dbname=... (quote values with spaces in single quotes)"

// PostgreSQL refuses a DSN that sets password or sslpassword, or that
// pgconn cannot parse.
func PostgreSQL(dsn string) error {
	keys, err := PostgreSQLKeys(dsn)
	if err != nil {
		return err
	}
	for _, k := range postgresSecretKeys {
		if slices.Contains(keys, k) {
			return secret(k)
		}
	}
	return nil
}

// PostgreSQLKeys lists the parameters the DSN itself sets, as pgconn reads
// them (canonical names: dbname is "database"; a URL's user:password@
// sets "user" and "password"), in no particular order.
//
// pgconn.ParseConfig cannot answer this by itself: its Config.Password
// also comes from PGPASSWORD, a service file or a password file, so a
// password in the environment would look like one in the DSN (a false
// refusal) and nothing would tell a DSN's password apart from the
// environment's. Instead the DSN is parsed with ConnStringAllowedKeys,
// which pgconn checks against the DSN's own parameters only, before it
// reads the environment or any file: each parse names one parameter that
// is not allowed yet, which is added, until the DSN parses past the check.
// What happens after the check (environment, files, port and TLS values)
// does not change which parameters the DSN sets, so it is not judged here;
// the connector reports it when it connects.
func PostgreSQLKeys(dsn string) ([]string, error) {
	keys := []string{} // non-nil: at first, every parameter is refused
	for {
		_, err := pgconn.ParseConfigWithOptions(dsn, pgconn.ParseConfigOptions{ConnStringAllowedKeys: keys})
		key, refused := refusedKey(err)
		switch {
		case refused && slices.Contains(keys, key):
			// pgconn refused a key it was told to allow: its rules are not
			// what this loop expects, so do not guess.
			return nil, &ParseError{Driver: "PostgreSQL", Reason: "its parameters could not be read", Hint: postgresHint}
		case refused:
			keys = append(keys, key)
		case len(keys) == 0 && syntaxError(err):
			return nil, &ParseError{Driver: "PostgreSQL", Reason: syntaxReason(dsn), Hint: postgresHint}
		default:
			return keys, nil
		}
	}
}

// refusedKey reads the key out of pgconn's "connection string key %q is
// not in ConnStringAllowedKeys" error, which ends its message. Inside the
// %q-quoted key every '"' is escaped, so the last `key "` in the message is
// where the quoted key starts, whatever the (redacted) DSN before it holds.
func refusedKey(err error) (string, bool) {
	const marker, suffix = `connection string key "`, ` is not in ConnStringAllowedKeys`
	var pce *pgconn.ParseConfigError
	if !errors.As(err, &pce) {
		return "", false
	}
	msg, ok := strings.CutSuffix(pce.Error(), suffix)
	if !ok {
		return "", false
	}
	i := strings.LastIndex(msg, marker)
	if i < 0 {
		return "", false
	}
	key, uerr := strconv.Unquote(msg[i+len(marker)-1:])
	return key, uerr == nil
}

// syntaxError tells pgconn's two syntax failures, which come before the
// allowed-keys check, from what a DSN without any parameter
// ("postgres://") can run into later (environment, files).
func syntaxError(err error) bool {
	var pce *pgconn.ParseConfigError
	if !errors.As(err, &pce) {
		return false
	}
	msg := pce.Error()
	return strings.Contains(msg, "`: failed to parse as URL (") || strings.Contains(msg, "`: failed to parse as keyword/value (")
}

// syntaxReason says what kind of DSN failed; pgconn's own reason may quote
// a part of it, so it is not repeated.
func syntaxReason(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return "it is not a valid postgres:// URL"
	}
	return "it is neither a postgres:// URL nor valid keyword=value pairs"
}
