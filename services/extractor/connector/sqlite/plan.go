package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// qPlan counts the selected tables, views and virtual tables of every
// selected schema in one statement.
const qPlan = selectedTables + `SELECT d.name, (SELECT count(*) FROM t WHERE t.schema = d.name)
FROM pragma_database_list d
WHERE d.name <> 'temp' AND ` + fnSchemaIncluded + `(d.name)
ORDER BY d.name`

// PlanQueries is the number of statements Plan sends.
const PlanQueries = 1

var _ connector.Planner = (*Connector)(nil)

// Plan reports the file's one database and its selected schemas ("main")
// with their number of selected tables and views.
func (c *Connector) Plan(ctx context.Context) ([]connector.DatabasePlan, error) {
	plan := connector.DatabasePlan{Name: c.names.Database}
	err := c.session(c.db).each(ctx, stPlan, qPlan, func(rows *sql.Rows) error {
		var s connector.SchemaPlan
		if err := rows.Scan(&s.Name, &s.Tables); err != nil {
			return err
		}
		if c.schemas.Has(s.Name) {
			plan.Schemas = append(plan.Schemas, s)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("plan database %q: %w", c.names.Database, c.explain(err))
	}
	return []connector.DatabasePlan{plan}, nil
}
