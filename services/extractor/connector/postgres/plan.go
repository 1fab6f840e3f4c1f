package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/secure-agent/secure-agent/libs/secret"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// planSQL lists one database's selected schemas with their selected
// tables and views, one row per table; a schema without any gives one row
// with a NULL table. Parameters are $1..$7 of the per-database statements.
const planSQL = `
SELECT n.nspname, c.relname
FROM pg_namespace n
LEFT JOIN pg_class c ON c.relnamespace = n.oid AND ` + tableKindsSQL + tableOnlyFilterSQL + `
WHERE ` + schemaFilterSQL

// PlanQueriesPerDatabase is the number of statements Plan sends per
// selected database, after the one that lists the databases.
const PlanQueriesPerDatabase = 1

var _ connector.Planner = (*Connector)(nil)

// Plan lists the selected databases, their selected schemas and how many
// selected tables and views each holds, with 1 + PlanQueriesPerDatabase ×
// databases statements.
func (c *Connector) Plan(ctx context.Context) ([]connector.DatabasePlan, error) {
	var st connector.Stats
	return c.plan(ctx, &st)
}

func (c *Connector) plan(ctx context.Context, st *connector.Stats) ([]connector.DatabasePlan, error) {
	password, err := c.password(ctx)
	if err != nil {
		return nil, err
	}
	main, err := c.dial(ctx, password, c.cfg.Database)
	if err != nil {
		return nil, err
	}
	defer closeConn(ctx, main)
	dbs, err := c.listDatabases(ctx, main, st, 0)
	if err != nil {
		return nil, err
	}
	dbs, err = c.selectDatabases(dbs)
	if err != nil {
		return nil, err
	}
	out := make([]connector.DatabasePlan, 0, len(dbs))
	for _, db := range dbs {
		p, ok, err := c.planDatabase(ctx, main, password, db.name, st)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// planDatabase counts one database's selected tables per selected schema;
// ok is false for a database dropped since it was listed.
func (c *Connector) planDatabase(ctx context.Context, main *pgx.Conn, password secret.Value, db string, st *connector.Stats) (connector.DatabasePlan, bool, error) {
	plan := connector.DatabasePlan{Name: db}
	conn := main
	if db != c.cfg.Database {
		var err error
		if conn, err = c.dial(ctx, password, db); err != nil {
			if c.droppedMeanwhile(err) {
				return plan, false, nil
			}
			return plan, false, err
		}
		defer closeConn(ctx, conn)
	}
	p := c.push
	st.Queries++
	rows, err := conn.Query(ctx, planSQL, db, p.schemas, p.includeSchemas, p.excludeSchemas, p.includeTables, p.excludeTables, p.tempTables,
		nil, nil) // the plan sizes whole schemas: no table range
	if err != nil {
		return plan, false, c.readError("the schema and table plan", db, err)
	}
	defer rows.Close()
	var tally connector.Tally
	var (
		schema string
		table  pgtype.Text
	)
	for rows.Next() {
		if err := rows.Scan(&schema, &table); err != nil {
			return plan, false, c.readError("the schema and table plan", db, err)
		}
		if !c.schemas.Has(schema) || !c.filters.SchemaIncluded(db, schema) {
			continue
		}
		tally.Schema(schema)
		if table.Valid && c.filters.TableIncluded(db, schema, table.String) {
			tally.Table(schema, table.String)
		}
	}
	if err := rows.Err(); err != nil {
		return plan, false, c.readError("the schema and table plan", db, err)
	}
	plan.Schemas = tally.Plans()
	return plan, true, nil
}
