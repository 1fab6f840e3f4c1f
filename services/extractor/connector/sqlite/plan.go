package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// qPlan lists the selected tables, views and virtual tables of every
// selected schema in one statement, one row per table (a schema without
// any: one row with a NULL name).
const qPlan = selectedTables + `SELECT d.name, t.name
FROM pragma_database_list d LEFT JOIN t ON t.schema = d.name
WHERE d.name <> 'temp' AND ` + fnSchemaIncluded + `(d.name)`

// PlanQueries is the number of statements Plan sends.
const PlanQueries = 1

var _ connector.Planner = (*Connector)(nil)

// Plan reports the file's one database and its selected schemas ("main")
// with their number of selected tables and views.
func (c *Connector) Plan(ctx context.Context) ([]connector.DatabasePlan, error) {
	var tally connector.Tally
	err := c.session(c.db).each(ctx, stPlan, qPlan, func(rows *sql.Rows) error {
		var schema string
		var table sql.NullString
		if err := rows.Scan(&schema, &table); err != nil {
			return err
		}
		if !c.schemas.Has(schema) {
			return nil
		}
		tally.Schema(schema)
		if table.Valid {
			tally.Table(schema, table.String)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("plan database %q: %w", c.names.Database, c.explain(err))
	}
	return []connector.DatabasePlan{{Name: c.names.Database, Schemas: tally.Plans()}}, nil
}
