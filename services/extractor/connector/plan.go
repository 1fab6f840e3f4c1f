package connector

import (
	"context"

	"github.com/secure-agent/secure-agent/libs/changeset"
)

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
	// Bounds are the names of every BoundEvery-th of its tables (in byte
	// order, the first excluded): where the partitioning may cut a schema
	// of more tables than a partition holds (see TableNames).
	Bounds []string `json:"bounds,omitempty"`
}

// Tables sums the planned tables of the database.
func (d DatabasePlan) Tables() int {
	n := 0
	for _, s := range d.Schemas {
		n += s.Tables
	}
	return n
}

// Lister is implemented by connectors that can say what the source's
// listing shows the agent's user: every database (and, where the source
// hides some from a user, every schema), whether each is readable and
// whether its tables are all visible. A run's deletions are judged by it
// (ADR 0015): an asset is only "dropped" where the listing would show it.
type Lister interface {
	Listing(ctx context.Context) (changeset.Listing, error)
}
