// Package assetfilter holds the include/exclude filters of a job: what the
// orchestrator validates in a job spec, the extractor's connectors push into
// SQL, and agentctl builds from flags.
package assetfilter

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
)

// Filters select what a job extracts. Every pattern is a regular
// expression anchored at both ends (it must match the whole name):
//
//   - IncludeSchemas / ExcludeSchemas match "database.schema"
//   - IncludeTables / ExcludeTables match "schema.table"
//   - TempTables matches a table name; matching tables are skipped
//
// An empty include list includes everything. Excludes win over includes.
// Connectors push the patterns into SQL where the engine can, and apply
// the compiled Go patterns to every row as well, so a difference between
// the engine's regex dialect and Go's can only cost speed, never add or
// drop an asset.
type Filters struct {
	IncludeSchemas []string `json:"include_schemas,omitempty" yaml:"include_schemas,omitempty"`
	ExcludeSchemas []string `json:"exclude_schemas,omitempty" yaml:"exclude_schemas,omitempty"`
	IncludeTables  []string `json:"include_tables,omitempty" yaml:"include_tables,omitempty"`
	ExcludeTables  []string `json:"exclude_tables,omitempty" yaml:"exclude_tables,omitempty"`
	TempTables     string   `json:"temp_tables,omitempty" yaml:"temp_tables,omitempty"`
}

// Pattern is one validated filter pattern.
type Pattern struct {
	Source string         // as the user wrote it
	Where  string         // which filter it belongs to, for messages
	re     *regexp.Regexp // anchored
}

// Anchored is the pattern in the form pushed into SQL: ^(?:...)$.
func (p Pattern) Anchored() string { return "^(?:" + p.Source + ")$" }

// Match reports whether the whole of s matches.
func (p Pattern) Match(s string) bool { return p.re.MatchString(s) }

// Compiled holds the validated filters.
type Compiled struct {
	IncludeSchemas, ExcludeSchemas []Pattern
	IncludeTables, ExcludeTables   []Pattern
	TempTables                     *Pattern
}

// maxPatternLen bounds what goes into SQL and into the regexp compiler.
const maxPatternLen = 1000

// Compile validates every pattern and reports all bad ones at once, each
// with the filter it belongs to and the reason.
func (f Filters) Compile() (*Compiled, error) {
	c := &Compiled{}
	var problems []string
	add := func(where string, src string, dst *[]Pattern) {
		p, err := compilePattern(where, src)
		if err != nil {
			problems = append(problems, err.Error())
			return
		}
		*dst = append(*dst, p)
	}
	for _, s := range f.IncludeSchemas {
		add("include_schemas", s, &c.IncludeSchemas)
	}
	for _, s := range f.ExcludeSchemas {
		add("exclude_schemas", s, &c.ExcludeSchemas)
	}
	for _, s := range f.IncludeTables {
		add("include_tables", s, &c.IncludeTables)
	}
	for _, s := range f.ExcludeTables {
		add("exclude_tables", s, &c.ExcludeTables)
	}
	if f.TempTables != "" {
		var tmp []Pattern
		add("temp_tables", f.TempTables, &tmp)
		if len(tmp) == 1 {
			c.TempTables = &tmp[0]
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("invalid filter pattern(s):\n  - %s", strings.Join(problems, "\n  - "))
	}
	return c, nil
}

func compilePattern(where, src string) (Pattern, error) {
	switch {
	case strings.TrimSpace(src) == "":
		return Pattern{}, fmt.Errorf("%s: empty pattern; remove it, or use .* to match everything", where)
	case len(src) > maxPatternLen:
		return Pattern{}, fmt.Errorf("%s: pattern is %d characters; the limit is %d", where, len(src), maxPatternLen)
	case strings.ContainsRune(src, 0):
		return Pattern{}, fmt.Errorf("%s: pattern %q contains a NUL byte", where, src)
	}
	// Parse with Perl flags (what Go accepts) and refuse what SQL engines
	// would read differently or not at all.
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return Pattern{}, fmt.Errorf("%s: pattern %q is not a valid regular expression: %v", where, src, unwrapSyntax(err))
	}
	if err := portable(re); err != nil {
		return Pattern{}, fmt.Errorf("%s: pattern %q %v", where, src, err)
	}
	compiled, err := regexp.Compile("^(?:" + src + ")$")
	if err != nil {
		return Pattern{}, fmt.Errorf("%s: pattern %q is not a valid regular expression: %v", where, src, unwrapSyntax(err))
	}
	return Pattern{Source: src, Where: where, re: compiled}, nil
}

func unwrapSyntax(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return se.Code.String() + " " + strings.TrimSpace(se.Expr)
	}
	return err.Error()
}

// portable refuses constructs whose meaning differs between Go, PostgreSQL
// and MySQL/MariaDB regexes: named groups, word boundaries, and ^ $ inside
// the pattern (we anchor ourselves). Flag groups such as (?i) are accepted:
// all three engines read them alike, and rows are re-checked in Go anyway.
func portable(re *syntax.Regexp) error {
	switch re.Op {
	case syntax.OpCapture:
		if re.Name != "" {
			return fmt.Errorf("uses a named group (?P<%s>...); use a plain group (...)", re.Name)
		}
	case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText:
		return fmt.Errorf("uses ^ or $; patterns are already anchored to the whole name, leave them out")
	case syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return fmt.Errorf(`uses \b or \B, which the database engines read differently; leave it out`)
	}
	for _, s := range re.Sub {
		if err := portable(s); err != nil {
			return err
		}
	}
	return nil
}

// SchemaIncluded applies the schema filters to database.schema.
func (c *Compiled) SchemaIncluded(database, schema string) bool {
	s := database + "." + schema
	return included(s, c.IncludeSchemas, c.ExcludeSchemas)
}

// TableIncluded applies the schema, table and temp-table filters.
func (c *Compiled) TableIncluded(database, schema, table string) bool {
	if !c.SchemaIncluded(database, schema) {
		return false
	}
	if c.TempTables != nil && c.TempTables.Match(table) {
		return false
	}
	return included(schema+"."+table, c.IncludeTables, c.ExcludeTables)
}

func included(s string, inc, exc []Pattern) bool {
	for _, p := range exc {
		if p.Match(s) {
			return false
		}
	}
	if len(inc) == 0 {
		return true
	}
	for _, p := range inc {
		if p.Match(s) {
			return true
		}
	}
	return false
}

// All lists every pattern, for preflight's per-filter match counts.
func (c *Compiled) All() []Pattern {
	var out []Pattern
	out = append(out, c.IncludeSchemas...)
	out = append(out, c.ExcludeSchemas...)
	out = append(out, c.IncludeTables...)
	out = append(out, c.ExcludeTables...)
	if c.TempTables != nil {
		out = append(out, *c.TempTables)
	}
	return out
}
