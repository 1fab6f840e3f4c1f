package postgres

import (
	"errors"
	"fmt"
	"strings"
)

// inlinePassword returns the password a DSN carries, read the way pgconn
// reads it: the URL userinfo or a password= query parameter, or a
// password keyword. Environment variables and password files are not the
// DSN and are not looked at.
func inlinePassword(dsn string) (string, error) {
	if rest, ok := cutURLScheme(dsn); ok {
		return urlPassword(rest)
	}
	settings, err := keywordValues(dsn)
	if err != nil {
		return "", err
	}
	return settings["password"], nil
}

func cutURLScheme(dsn string) (string, bool) {
	if rest, ok := strings.CutPrefix(dsn, "postgresql://"); ok {
		return rest, true
	}
	return strings.CutPrefix(dsn, "postgres://")
}

func urlPassword(rest string) (string, error) {
	// As in libpq, userinfo ends at the first '@' before any '/'.
	if i := strings.IndexAny(rest, "@/"); i >= 0 && rest[i] == '@' {
		if _, pw, ok := strings.Cut(rest[:i], ":"); ok && pw != "" {
			return percentDecode(pw), nil
		}
		rest = rest[i+1:]
	}
	q := strings.IndexByte(rest, '?')
	if q < 0 {
		return "", nil
	}
	for _, pair := range strings.Split(rest[q+1:], "&") {
		k, v, _ := strings.Cut(pair, "=")
		if percentDecode(k) == "password" && v != "" {
			return percentDecode(v), nil
		}
	}
	return "", nil
}

// percentDecode decodes %XX escapes and leaves malformed ones as they are
// (pgconn reports those when it parses the DSN).
func percentDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// keywordValues parses the libpq keyword=value form: values are bare
// (ending at whitespace) or single-quoted, with backslash escapes in both.
func keywordValues(s string) (map[string]string, error) {
	const space = " \t\n\r\v\f"
	out := map[string]string{}
	s = strings.TrimLeft(s, space)
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return nil, errors.New(`expected keyword=value pairs or a postgres:// URL`)
		}
		key := strings.TrimSpace(s[:eq])
		s = strings.TrimLeft(s[eq+1:], space)
		var val strings.Builder
		if strings.HasPrefix(s, "'") {
			s = s[1:]
			closed := false
			for len(s) > 0 {
				c := s[0]
				s = s[1:]
				if c == '\\' && len(s) > 0 {
					val.WriteByte(s[0])
					s = s[1:]
					continue
				}
				if c == '\'' {
					closed = true
					break
				}
				val.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("unterminated quoted value for %q", key)
			}
		} else {
			for len(s) > 0 && !strings.ContainsRune(space, rune(s[0])) {
				c := s[0]
				s = s[1:]
				if c == '\\' && len(s) > 0 {
					c = s[0]
					s = s[1:]
				}
				val.WriteByte(c)
			}
		}
		out[key] = val.String()
		s = strings.TrimLeft(s, space)
	}
	return out, nil
}
