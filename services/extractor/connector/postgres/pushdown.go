package postgres

import (
	"regexp"
	"strings"

	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// pushdown holds the filter patterns sent to PostgreSQL as query
// parameters ($2..$7 of the per-database statements). A nil list means "no
// filter in SQL"; the Go patterns still decide every row.
type pushdown struct {
	schemas                        []string // Source.Schemas: exact names
	includeSchemas, excludeSchemas []string
	includeTables, excludeTables   []string
	tempTables                     []string
	// tablesFrom and tablesBefore are Source.Tables (nil: an open end).
	tablesFrom, tablesBefore *string
}

func newPushdown(c *connector.Compiled, schemas connector.SchemaSet) pushdown {
	var p pushdown
	p.schemas = schemas.List()
	if r := schemas.Tables(); r.From != "" {
		p.tablesFrom = &r.From
	}
	if r := schemas.Tables(); r.Before != "" {
		p.tablesBefore = &r.Before
	}
	p.includeSchemas = includeList(c.IncludeSchemas)
	p.excludeSchemas = excludeList(c.ExcludeSchemas)
	p.includeTables = includeList(c.IncludeTables)
	p.excludeTables = excludeList(c.ExcludeTables)
	if c.TempTables != nil {
		p.tempTables = excludeList([]connector.Pattern{*c.TempTables})
	}
	return p
}

// includeList pushes an include list only when every pattern is safe: SQL
// must not drop a name that any of the Go patterns would keep.
func includeList(ps []connector.Pattern) []string {
	if len(ps) == 0 {
		return nil
	}
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		if !pushable(p.Source) {
			return nil
		}
		out = append(out, p.Anchored())
	}
	return out
}

// excludeList pushes the safe patterns of an exclude list; the others are
// applied in Go only.
func excludeList(ps []connector.Pattern) []string {
	var out []string
	for _, p := range ps {
		if pushable(p.Source) {
			out = append(out, p.Anchored())
		}
	}
	return out
}

// pushable reports whether a (Go-validated) pattern means the same to
// PostgreSQL's regex engine, apart from '.' matching a newline (handled in
// the SQL). It admits ASCII literals, '.', classes, groups, alternation, the
// * + ? quantifiers and backslash-escaped punctuation, and refuses what the
// engines read differently: flags and non-capturing groups "(?", POSIX
// classes "[:", the \d \w \s families (locale-dependent in PostgreSQL),
// counted repetition "{", and any non-ASCII text (the database encoding
// may not be UTF-8).
func pushable(src string) bool {
	if strings.Contains(src, "(?") || strings.Contains(src, "[:") ||
		strings.Contains(src, "[=") || strings.Contains(src, "[.") {
		return false
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c >= 0x80 || c < 0x20:
			return false
		case c == '\\':
			i++
			if i == len(src) || !isPunct(src[i]) {
				return false
			}
		case c == '{' || c == '}':
			return false
		}
	}
	return true
}

func isPunct(c byte) bool {
	return c > 0x20 && c < 0x7f && !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9')
}

// databaseMayMatch reports whether any schema of database db can pass the
// include_schemas patterns, from each pattern's literal prefix: a pattern
// whose every match starts with "sales." cannot match "hr.public". It lets
// Extract skip a database without connecting to it; when it cannot tell, it
// says yes.
func databaseMayMatch(c *connector.Compiled, db string) bool {
	if len(c.IncludeSchemas) == 0 {
		return true
	}
	dbDot := db + "."
	for _, p := range c.IncludeSchemas {
		re, err := regexp.Compile("(?:" + p.Source + ")")
		if err != nil {
			return true // already validated; be safe rather than skip
		}
		prefix, complete := re.LiteralPrefix()
		if complete {
			// A plain literal matches itself only; the schema part is not empty.
			if len(prefix) > len(dbDot) && strings.HasPrefix(prefix, dbDot) {
				return true
			}
			continue
		}
		if strings.HasPrefix(dbDot, prefix) || strings.HasPrefix(prefix, dbDot) {
			return true
		}
	}
	return false
}
