package connector

import "context"

// Planner is implemented by connectors that can size a source before
// extracting it: the extractor's preflight splits big databases into
// schema groups from the plan. Plan sends a small fixed number of
// statements, whatever the number of tables.
type Planner interface {
	Plan(ctx context.Context) ([]DatabasePlan, error)
}

// DatabasePlan is one database the source's extraction would read. Name
// is the database as Source.Databases names it; it is empty for a source
// whose Source.Databases does not name the model's database (MySQL, where
// it lists schemas): a partition of it covers the whole source and is cut
// by schemas only.
type DatabasePlan struct {
	Name    string       `json:"name"`
	Schemas []SchemaPlan `json:"schemas"`
}

// SchemaPlan is one selected schema and its number of tables and views
// that pass the filters.
type SchemaPlan struct {
	Name   string `json:"name"`
	Tables int    `json:"tables"`
}

// Tables sums the planned tables of the database.
func (d DatabasePlan) Tables() int {
	n := 0
	for _, s := range d.Schemas {
		n += s.Tables
	}
	return n
}
