package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"slices"
	"strings"

	"github.com/secure-agent/secure-agent/services/extractor/connector/dbobs"
)

// counter sends statements on one pinned connection and counts them, so
// Stats.Queries is what the source really received. run is the one place
// the connector's statements go through: each is counted and observed
// (a span and the source metrics) there.
type counter struct {
	conn   *sql.Conn
	n      int
	obs    *dbobs.Observer
	target dbobs.Target
}

// run sends st's text q and calls scan for every row as it arrives; the
// statement ends when its last row is read and its rows are closed.
func (c *counter) run(ctx context.Context, st dbobs.Statement, q string, args []any, scan func(*sql.Rows) error) (err error) {
	c.n++
	ctx, obs := c.obs.Start(ctx, c.target, st)
	var n int64
	defer func() {
		obs.SetSystem(c.target.System) // the probe may have told it
		if err == nil {
			obs.Returned(n)
		}
		obs.End(err)
	}()
	rows, err := c.conn.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		n++
		if err := scan(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}

// one runs q and scans its first row only, as QueryRow would; no row is
// sql.ErrNoRows.
func (c *counter) one(ctx context.Context, st dbobs.Statement, q string, args []any, scan func(*sql.Rows) error) error {
	seen := false
	err := c.run(ctx, st, q, args, func(rows *sql.Rows) error {
		if seen {
			return nil
		}
		seen = true
		return scan(rows)
	})
	if err == nil && !seen {
		return sql.ErrNoRows
	}
	return err
}

// each runs q like run. When q pushes filter patterns down (a regexArg
// among args), it then asks the server whether its regex engine gave up
// on any row (see regexWarnings).
func (c *counter) each(ctx context.Context, st dbobs.Statement, q string, args []any, scan func(*sql.Rows) error) error {
	if err := c.run(ctx, st, q, args, scan); err != nil {
		return err
	}
	if !slices.ContainsFunc(args, isRegexArg) {
		return nil
	}
	return c.regexWarnings(ctx, args) // run closed the rows: the connection is free for SHOW WARNINGS
}

// regexArg is a filter pattern bound as a REGEXP parameter: its type marks
// the statements whose warnings must be read.
type regexArg string

func (r regexArg) Value() (driver.Value, error) { return string(r), nil }

func isRegexArg(a any) bool { _, ok := a.(regexArg); return ok }

// erRegexpError is MariaDB's ER_REGEXP_ERROR: "Regex error '...'" (PCRE's
// match or recursion limit, a pattern PCRE refuses). MariaDB reports it as
// a warning and lets REGEXP return 0, so a pushed-down include would drop
// every row it gave up on, silently. MySQL 8 (ICU) fails the statement
// instead, which needs nothing here.
const erRegexpError = 1139

// regexWarnings reads the warnings of the statement just run, on the same
// connection, and fails on a regex error: the server may narrow what Go
// decides, never decide alone.
func (c *counter) regexWarnings(ctx context.Context, args []any) error {
	var messages []string
	err := c.run(ctx, stWarnings, "SHOW WARNINGS", nil, func(rows *sql.Rows) error {
		var level, message string
		var code int
		if err := rows.Scan(&level, &code, &message); err != nil {
			return err
		}
		if (code == erRegexpError || strings.HasPrefix(message, "Regex error")) && !slices.Contains(messages, message) {
			messages = append(messages, message)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the warnings of a statement with filter patterns: %w", err)
	}
	if len(messages) == 0 {
		return nil
	}
	var patterns []string
	for _, a := range args {
		if r, ok := a.(regexArg); ok && !slices.Contains(patterns, string(r)) {
			patterns = append(patterns, string(r))
		}
	}
	return fmt.Errorf("the server's regular expression engine gave up on a filter pattern (%s) and treated those names as not matching, "+
		"so the extraction stops rather than leave tables out; patterns evaluated by the server: %s; "+
		"simplify the pattern (nested repetition such as (x+)+ makes the server backtrack without bound), "+
		"or raise the server's regex limits (MariaDB: the PCRE match limit)",
		strings.Join(messages, "; "), strings.Join(patterns, ", "))
}

// str returns nil for NULL and for the empty string, which information_schema
// uses for "none" (comments, generation expressions on MySQL).
func str(ns sql.NullString) *string {
	if !ns.Valid || ns.String == "" {
		return nil
	}
	s := ns.String
	return &s
}
