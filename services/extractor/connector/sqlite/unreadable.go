package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
)

// SQLite lets a view outlive the tables it reads and a virtual table
// outlive the module that implements it; reading such an object's columns
// fails, and with it the one statement that reads every column. The error
// then names only the missing table or module, so these helpers find the
// objects at fault, one statement each. They run only after that failure
// (and in Preflight), never in a successful extraction.

// maxNamed bounds how many broken objects an error lists.
const maxNamed = 10

// brokenObject is a view or virtual table whose columns cannot be read.
type brokenObject struct {
	name   string // schema.name
	reason string // SQLite's message
}

// findBroken lists the selected views and virtual tables SQLite cannot
// compile, up to maxNamed, and how many there are in all.
func findBroken(ctx context.Context, q *session) ([]brokenObject, int, error) {
	var found []brokenObject
	total := 0
	err := q.each(ctx, stBrokenCandidates, qUnreadableCandidates, func(rows *sql.Rows) error {
		var schema, name string
		if err := rows.Scan(&schema, &name); err != nil {
			return err
		}
		if reason := columnsError(ctx, q, schema, name); reason != "" {
			total++
			if len(found) < maxNamed {
				found = append(found, brokenObject{name: schema + "." + name, reason: reason})
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return found, total, nil
}

// columnsError is SQLite's message when name's columns cannot be read.
func columnsError(ctx context.Context, q *session, schema, name string) string {
	err := q.each(ctx, stBrokenColumns, qColumnsOf, func(*sql.Rows) error { return nil }, name, schema)
	if err != nil {
		return err.Error()
	}
	return ""
}

// describeBroken says which objects are broken and what to do.
func describeBroken(found []brokenObject, total int) string {
	parts := make([]string, len(found))
	for i, b := range found {
		parts[i] = fmt.Sprintf("%s (%s)", b.name, b.reason)
	}
	more := ""
	if total > len(found) {
		more = fmt.Sprintf(" and %d more", total-len(found))
	}
	return fmt.Sprintf("SQLite cannot read the columns of %s%s: each refers to a table or column that no longer exists "+
		"or uses a virtual-table module this agent does not have; fix or drop them, or exclude them with exclude_tables "+
		`(patterns match "schema.table", e.g. %q)`, strings.Join(parts, ", "), more, exampleExclude(found))
}

func exampleExclude(found []brokenObject) string {
	if len(found) == 0 {
		return `main\.my_view`
	}
	return regexp.QuoteMeta(found[0].name)
}

// explainColumns turns a failed columns statement into an error naming the
// broken objects, when that is what failed.
func (c *Connector) explainColumns(ctx context.Context, q *session, err error) error {
	if ctx.Err() != nil {
		return err
	}
	found, total, ferr := findBroken(ctx, q)
	if ferr != nil || total == 0 {
		return err
	}
	return fmt.Errorf("%s: %w", describeBroken(found, total), err)
}
