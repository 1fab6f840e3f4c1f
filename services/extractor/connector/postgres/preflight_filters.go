package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/secure-agent/secure-agent/libs/secret"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// namesSQL lists every user schema and its tables, for the filter checks.
const namesSQL = `
SELECT n.nspname, c.relname
FROM pg_namespace n
LEFT JOIN pg_class c ON c.relnamespace = n.oid AND ` + tableKindsSQL + `
WHERE ` + userSchemaSQL + `
ORDER BY n.nspname`

// filterChecks counts, per pattern, the schemas ("database.schema") or
// tables ("schema.table"; temp_tables: the table name) it matches in the
// readable databases, on its own, regardless of the other filters.
func (c *Connector) filterChecks(ctx context.Context, password secret.Value, dbs []string, patterns []connector.Pattern) []connector.Check {
	counts := make([]int, len(patterns))
	var problems []string
	for _, db := range dbs {
		if err := c.countMatches(ctx, password, db, patterns, counts); err != nil {
			problems = append(problems, err.Error())
		}
	}
	checks := make([]connector.Check, len(patterns))
	for i, p := range patterns {
		noun, whole := "table", `"schema.table"`
		switch p.Where {
		case "include_schemas", "exclude_schemas":
			noun, whole = "schema", `"database.schema"`
		case "temp_tables":
			whole = "table name"
		}
		ch := connector.FilterCheck(p, counts[i])
		ch.Status = connector.Pass
		ch.Detail = fmt.Sprintf("matches %d %s(s) in database(s) %s", counts[i], noun, strings.Join(dbs, ", "))
		switch {
		case len(problems) > 0:
			ch.Matches = nil
			ch.Status = connector.Warn
			ch.Detail = "could not count matches: " + strings.Join(problems, "; ")
			ch.Remediation = "fix the catalog_privileges check"
		case counts[i] == 0:
			ch.Status = connector.Warn
			ch.Detail = fmt.Sprintf("filter %s %q matches no %s in database(s) %s", p.Where, p.Source, noun, strings.Join(dbs, ", "))
			ch.Remediation = fmt.Sprintf("check the pattern: it must match the whole %s, case-sensitively; fix or remove it", whole)
		}
		checks[i] = ch
	}
	return checks
}

func (c *Connector) countMatches(ctx context.Context, password secret.Value, db string, patterns []connector.Pattern, counts []int) error {
	conn, err := c.dial(ctx, password, db)
	if err != nil {
		return err
	}
	defer closeConn(ctx, conn)
	rows, err := conn.Query(ctx, namesSQL)
	if err != nil {
		return c.readError("schema and table names", db, err)
	}
	defer rows.Close()
	var (
		schema, last string
		table        pgtype.Text
	)
	for rows.Next() {
		if err := rows.Scan(&schema, &table); err != nil {
			return c.readError("schema and table names", db, err)
		}
		newSchema := schema != last
		last = schema
		for i, p := range patterns {
			switch p.Where {
			case "include_schemas", "exclude_schemas":
				if newSchema && p.Match(db+"."+schema) {
					counts[i]++
				}
			case "temp_tables":
				if table.Valid && p.Match(table.String) {
					counts[i]++
				}
			default:
				if table.Valid && p.Match(schema+"."+table.String) {
					counts[i]++
				}
			}
		}
	}
	if err := rows.Err(); err != nil {
		return c.readError("schema and table names", db, err)
	}
	return nil
}

func filterCheckName(p connector.Pattern) string { return "filter " + p.Where + " " + p.Anchored() }
