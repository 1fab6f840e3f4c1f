package sqlite

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/secure-agent/secure-agent/libs/dsncheck"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// location is a parsed Source.DSN: the file and the few SQLite URI
// parameters a read-only extraction may use.
type location struct {
	path      string // absolute
	immutable bool   // immutable=1: no locking, the file must not change
	nolock    bool   // nolock=1: no file locks (read-only media)
}

// parseDSN accepts a plain file path or a SQLite file: URI. Anything that
// would write, create, or open something other than one existing file is
// refused, and so is a key (the file would be encrypted, which the bundled
// SQLite cannot read anyway). Errors never repeat parameter values.
func parseDSN(dsn string, allowInlineSecret bool) (location, error) {
	dsn = strings.TrimSpace(dsn)
	if dsn == "" {
		return location{}, errors.New("dsn is empty: set it to the path of the SQLite file")
	}
	// libs/dsncheck reads the DSN for the job spec check and here alike:
	// one rule for what carries a key.
	switch err := dsncheck.SQLite(dsn); {
	case errors.Is(err, dsncheck.ErrPassword) && !allowInlineSecret:
		return location{}, fmt.Errorf("the DSN carries a password or an encryption key, which the SQLite connector never uses: %w", connector.ErrInlinePassword)
	case errors.Is(err, dsncheck.ErrPassword):
		return location{}, errors.New("the DSN sets a password or an encryption key; the SQLite connector reads only unencrypted files: remove it")
	case err != nil:
		return location{}, err
	}
	if !dsncheck.IsSQLiteURI(dsn) {
		if dsn == ":memory:" {
			return location{}, errors.New("dsn :memory: is an empty in-memory database: set it to the path of a SQLite file")
		}
		return absLocation(dsn)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		// url.Parse errors quote the input, which may hold a key.
		return location{}, errors.New("dsn is not a valid file: URI: percent-encode special characters or give a plain path")
	}
	if u.User != nil {
		return location{}, errors.New("dsn: a SQLite file: URI takes no user name or password; remove the user@ part")
	}
	if u.Host != "" && u.Host != "localhost" {
		return location{}, fmt.Errorf("dsn: file: URI names host %q; SQLite reads local files only: use file:///path/to/file.db", u.Host)
	}
	q, err := url.ParseQuery(u.RawQuery) // dsncheck.SQLite has refused what does not parse
	if err != nil {
		return location{}, errors.New("dsn: the file: URI's parameters cannot be read: percent-encode special characters")
	}
	loc, err := uriParams(q)
	if err != nil {
		return location{}, err
	}
	path := u.Path
	if u.Opaque != "" { // file:relative/path.db
		if path, err = url.PathUnescape(u.Opaque); err != nil {
			return location{}, errors.New("dsn: the file: URI path has an invalid %-escape")
		}
	}
	if path == "" || path == ":memory:" {
		return location{}, errors.New("dsn: the file: URI names no file (in-memory databases have nothing to extract): use file:///path/to/file.db")
	}
	abs, err := absLocation(path)
	if err != nil {
		return location{}, err
	}
	loc.path = abs.path
	return loc, nil
}

func uriParams(q url.Values) (location, error) {
	var loc location
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := q.Get(k)
		switch {
		case k == "mode":
			if v != "ro" {
				return location{}, fmt.Errorf("dsn parameter mode=%s: the connector always opens the file read-only; remove mode or use mode=ro", v)
			}
		case k == "immutable" || k == "nolock":
			on, err := strconv.ParseBool(v)
			if err != nil {
				return location{}, fmt.Errorf("dsn parameter %s=%s: use %s=1 or %s=0", k, v, k, k)
			}
			if k == "immutable" {
				loc.immutable = on
			} else {
				loc.nolock = on
			}
		default:
			return location{}, fmt.Errorf("dsn parameter %q is not supported for SQLite sources: remove it (supported: mode=ro, immutable=1, nolock=1)", k)
		}
	}
	return loc, nil
}

func absLocation(path string) (location, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return location{}, fmt.Errorf("dsn: cannot resolve path %q: %w", path, err)
	}
	return location{path: abs}, nil
}

// driverDSN is what the modernc driver opens: a file: URI with mode=ro, so
// SQLite itself refuses every write and never creates a missing file, and
// query_only as a second guard. busy_timeout bounds the wait for a writer's
// lock by the connect timeout instead of failing at once.
func (l location) driverDSN(busy time.Duration) string {
	var b strings.Builder
	b.WriteString("file:")
	b.WriteString(escapeURIPath(l.path))
	b.WriteString("?mode=ro&_pragma=query_only(1)")
	fmt.Fprintf(&b, "&_pragma=busy_timeout(%d)", busy.Milliseconds())
	if l.immutable {
		b.WriteString("&immutable=1")
	}
	if l.nolock {
		b.WriteString("&nolock=1")
	}
	return b.String()
}

// escapeURIPath percent-encodes every byte SQLite's URI parser could read
// as syntax ('?', '#', '%', '&', '=') or that url parsers mangle; SQLite
// decodes %HH in the path.
func escapeURIPath(p string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '/' || c == '-' || c == '_' || c == '.' || c == '~' ||
			('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
