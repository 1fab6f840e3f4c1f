package mysql

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// MariaDB's REGEXP gives up on a backtracking pattern ("Regex error 'match
// limit exceeded'", a warning) and answers "no match": a pushed-down
// include then dropped the table silently and the job succeeded with 0
// tables, while Go's linear-time regexp matches (issue 10, item 7). The
// extraction must fail and say why instead.
func TestServerRegexErrorFailsTheExtraction(t *testing.T) {
	f := loadFixture(t)
	schema := f.prefix + "probe"
	table := strings.Repeat("x", 29) + "z"
	_, err := f.db.Exec("CREATE DATABASE " + quoteIdent(schema) + "; CREATE TABLE " + quoteIdent(schema) + "." + quoteIdent(table) + " (id INT)")
	require.NoError(t, err)

	src := connector.Source{Kind: "mysql", Connection: testConnection, DSN: serverDSN(), Databases: []string{schema},
		Filters: connector.Filters{IncludeTables: []string{regexp.QuoteMeta(schema) + `\.((x+x+)+y|.*z)`}}}
	compiled, err := src.Filters.Compile()
	require.NoError(t, err)
	require.True(t, compiled.IncludeTables[0].Match(schema+"."+table), "Go's regexp matches the table")

	sink, _, err := tryExtract(t, src, nil, model.WriterOptions{})
	if err == nil {
		// A server whose engine does not give up (MySQL 8 fails the
		// statement; a raised PCRE limit matches): the table must be there.
		require.Equal(t, []string{"{{P}}probe." + table}, f.names(sink, model.KindTable, "table_name"))
		t.Skip("this server evaluated the pattern without giving up")
	}
	require.ErrorContains(t, err, "regular expression engine gave up")
	require.ErrorContains(t, err, "match limit")
	require.ErrorContains(t, err, `((x+x+)+y|.*z)`, "the error names the pattern")
	require.ErrorContains(t, err, "simplify the pattern")

	c, err := Open(t.Context(), src, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	_, err = c.(connector.Planner).Plan(t.Context())
	require.ErrorContains(t, err, "regular expression engine gave up", "planning fails too rather than plan no tables")
}

// An exclude the server gives up on keeps the row (NOT 0) and Go would
// exclude it, but the warning is still an error: the server does not say
// which pattern gave up.
func TestServerRegexErrorInAnExclude(t *testing.T) {
	f := loadFixture(t)
	src := f.source()
	src.Filters.TempTables = `(x+x+)+y|.*z` // matched against the table name alone
	_, err := f.db.Exec("CREATE TABLE " + quoteIdent(f.prefix+"sales") + "." + quoteIdent(strings.Repeat("x", 29)+"z") + " (id INT)")
	require.NoError(t, err)
	_, _, err = tryExtract(t, src, nil, model.WriterOptions{})
	require.ErrorContains(t, err, "regular expression engine gave up")
}

// Statements that push patterns down are followed by one SHOW WARNINGS
// each, whatever the size of the catalog.
func TestQueryCountWithPushdownIsFixed(t *testing.T) {
	f := loadFixture(t)
	src := f.source()
	src.Filters.IncludeTables = []string{`.*\.(customers|orders|t\d+)`}
	_, small := extract(t, src, nil, model.WriterOptions{})
	src.Databases = append(src.Databases, f.bigSchema(t, 30))
	_, large := extract(t, src, nil, model.WriterOptions{})
	require.Equal(t, ExtractQueries+5, small.Queries)
	require.Equal(t, ExtractQueries+ExtractWarningChecks(src.Filters), small.Queries)
	require.Equal(t, small.Queries, large.Queries)
}
