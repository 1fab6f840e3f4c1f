package dsncheck

import (
	"net/url"
	"strings"
)

// sqliteSecretParams are URI parameters that carry an encryption key or a
// password in the SQLite builds and Go drivers that support one: SEE and
// SQLCipher (key, hexkey, textkey and their rekey forms), mattn/go-sqlite3's
// user authentication (_auth_pass), go-sqlcipher (_pragma_key) and the
// generic spellings people try. The bundled driver supports none of them,
// but a key written into a job spec is stored all the same.
var sqliteSecretParams = []string{
	"key", "hexkey", "textkey", "rekey", "hexrekey", "textrekey",
	"password", "pass", "pwd", "_auth_pass", "_key", "_pragma_key", "_pragma_hexkey",
}

// sqliteKeyPragmas are the pragmas that set a key through the modernc
// driver's _pragma=name(value) parameter.
var sqliteKeyPragmas = []string{"key", "hexkey", "textkey", "rekey", "hexrekey", "textrekey"}

const sqliteHint = "give a plain file path, or file:/path/to/file.db?mode=ro with percent-encoded special characters"

// IsSQLiteURI reports whether SQLite reads dsn as a URI (it starts with
// "file:", in any case) rather than as a plain file name.
func IsSQLiteURI(dsn string) bool {
	dsn = strings.TrimSpace(dsn)
	return len(dsn) >= 5 && strings.EqualFold(dsn[:5], "file:")
}

// SQLite refuses a file: URI that carries a password (file://u:pw@...) or
// a key parameter, or whose parameters cannot be read. A plain path has no
// parameters: the connector opens the file by that name.
func SQLite(dsn string) error {
	if !IsSQLiteURI(dsn) {
		return nil
	}
	u, err := url.Parse(strings.TrimSpace(dsn))
	if err != nil {
		// url errors quote the input.
		return &ParseError{Driver: "SQLite", Reason: "it is not a valid file: URI", Hint: sqliteHint}
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			return secret("user:password@")
		}
	}
	// ParseQuery, not u.Query(): Query drops the pairs it cannot read
	// (";" separators, bad escapes), which would hide a key behind them.
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return &ParseError{Driver: "SQLite", Reason: "its parameters cannot be read (a ';' separator or a malformed %-escape)", Hint: sqliteHint}
	}
	for name, values := range q {
		for _, s := range sqliteSecretParams {
			if strings.EqualFold(name, s) {
				return secret("parameter " + s)
			}
		}
		if name == "_pragma" {
			for _, v := range values {
				if p, ok := keyPragma(v); ok {
					return secret("_pragma " + p)
				}
			}
		}
	}
	return nil
}

// keyPragma reports a _pragma value that sets a key: "key('x')",
// "KEY = x", "main.hexkey(...)".
func keyPragma(v string) (string, bool) {
	v = strings.ToLower(strings.TrimSpace(v))
	name := v[:len(v)-len(strings.TrimLeft(v, "abcdefghijklmnopqrstuvwxyz0123456789_."))]
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:] // schema.key
	}
	for _, p := range sqliteKeyPragmas {
		if name == p {
			return p, true
		}
	}
	return "", false
}
