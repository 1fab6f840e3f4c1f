package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// filterChecks tells, for every pattern, how many schemas or tables of the
// file it matches.
func (c *Connector) filterChecks(ctx context.Context, q *session) []connector.Check {
	patterns := c.filters.All()
	if len(patterns) == 0 {
		return nil
	}
	counts := make([]int, len(patterns))
	err := q.each(ctx, stFilterNames, `SELECT name, NULL FROM pragma_database_list WHERE name <> 'temp'
UNION ALL
SELECT schema, name FROM pragma_table_list WHERE schema <> 'temp' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`,
		func(rows *sql.Rows) error {
			var schema string
			var table sql.NullString
			if err := rows.Scan(&schema, &table); err != nil {
				return err
			}
			for i, p := range patterns {
				if subject, ok := filterSubject(p.Where, c.names.Database, schema, table); ok && p.Match(subject) {
					counts[i]++
				}
			}
			return nil
		})
	checks := make([]connector.Check, len(patterns))
	for i, p := range patterns {
		what := "tables"
		if strings.HasSuffix(p.Where, "_schemas") {
			what = "schemas"
		}
		ck := connector.FilterCheck(p, counts[i])
		switch {
		case err != nil:
			ck.Matches = nil
			ck.Status, ck.Detail = connector.Warn, fmt.Sprintf("cannot list the %s to match: %v", what, err)
			ck.Remediation = "fix the catalog_privileges check first"
		case counts[i] == 0:
			ck.Status = connector.Warn
			ck.Detail = fmt.Sprintf("filter %s %q matches no %s in %s", p.Where, p.Source, what, c.loc.path)
			ck.Remediation = fmt.Sprintf("check the pattern: %s match %s; remove the filter if it is not needed",
				p.Where, subjectHelp(p.Where, c.names.Database))
		default:
			ck.Status = connector.Pass
			ck.Detail = fmt.Sprintf("filter %s %q matches %d %s", p.Where, p.Source, counts[i], what)
		}
		checks[i] = ck
	}
	return checks
}

// filterSubject is the string a pattern of the filter `where` is matched
// against for one listed row (a schema when table is null, else a table).
func filterSubject(where, database, schema string, table sql.NullString) (string, bool) {
	switch where {
	case "include_schemas", "exclude_schemas":
		return database + "." + schema, !table.Valid
	case "temp_tables":
		return table.String, table.Valid
	default: // include_tables, exclude_tables
		return schema + "." + table.String, table.Valid
	}
}

func subjectHelp(where, database string) string {
	switch where {
	case "include_schemas", "exclude_schemas":
		return fmt.Sprintf("%q (database.schema; a SQLite file's schema is main)", database+".main")
	case "temp_tables":
		return "a bare table name"
	default:
		return `"main.<table>" (schema.table)`
	}
}
