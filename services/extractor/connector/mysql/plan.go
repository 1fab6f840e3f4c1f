package mysql

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// PlanQueries is the number of statements Plan sends: the probe, and one
// UNION of the selected schemas and their tables and views.
const PlanQueries = 2

var _ connector.Planner = (*Conn)(nil)

// Plan lists the selected MySQL schemas and how many selected tables and
// views each holds. MySQL schemas are the model's schemas under the one
// model database, and Source.Databases lists schemas, so the plan is one
// DatabasePlan with an empty name: the whole server, cut by schemas.
func (c *Conn) Plan(ctx context.Context) ([]connector.DatabasePlan, error) {
	conn, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	q := c.counter(conn)
	return c.plan(ctx, q)
}

func (c *Conn) plan(ctx context.Context, q *counter) ([]connector.DatabasePlan, error) {
	info, err := probe(ctx, q, c.scope)
	if err != nil {
		return nil, fmt.Errorf("read server version and catalog features of %s: %w", c.addr, err)
	}
	if !info.version.supported() {
		return nil, fmt.Errorf("%s at %s is not supported: the minimum is %s; upgrade the server", info.version, c.addr, info.version.minimum())
	}
	if info.visibleSchemas == 0 {
		detail, fix := c.noSchemas(info.user)
		return nil, fmt.Errorf("read catalog of %s: %s; %s", c.addr, detail, fix)
	}
	sc := c.scope
	sc.pushdown = info.version.regexPushdown()
	var schemas, tables where
	sc.schemaFilter(&schemas, "SCHEMA_NAME")
	sc.tableFilter(&tables, "TABLE_SCHEMA", "TABLE_NAME")
	// A UNION, not a join: MariaDB joins information_schema tables by
	// nested loops.
	query := "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES" +
		" WHERE TABLE_TYPE IN " + tableTypes + " AND " + tables.sql() +
		" UNION ALL SELECT SCHEMA_NAME, NULL FROM information_schema.SCHEMATA WHERE " + schemas.sql()
	var tally connector.Tally
	err = q.each(ctx, stPlan, query, append(append([]any(nil), tables.args...), schemas.args...), func(rows *sql.Rows) error {
		var schema string
		var table sql.NullString
		if err := rows.Scan(&schema, &table); err != nil {
			return err
		}
		if !sc.schemaIncluded(schema) {
			return nil
		}
		tally.Schema(schema)
		if table.Valid && sc.tableIncluded(schema, table.String) {
			tally.Table(schema, table.String)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the schema and table plan of %s at %s: %w", info.version, c.addr, err)
	}
	return []connector.DatabasePlan{{Schemas: tally.Plans()}}, nil
}
