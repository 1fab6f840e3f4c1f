// Package postgres reads a PostgreSQL server's catalog (version 12 or
// later) with pgx: one statement lists the databases, then a fixed set of
// bulk pg_catalog statements per database streams every asset kind into a
// model.Writer row by row (see queries.go for the list and the count).
//
// Source.Schemas (a partition's schema group) is pushed into every
// per-database statement but the schema list as exact names ($2) and
// re-checked in Go; the database row is written by the group holding the
// database's first selected schema. Plan sizes the selected databases with
// one statement each (plan.go).
package postgres

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/dbobs"
)

// Connector extracts one PostgreSQL source. It holds no connection between
// calls: Preflight and Extract each connect (reading the password from the
// credentials just then) and disconnect before returning.
type Connector struct {
	src connector.Source // Databases resolved by DatabaseScope
	// scopedByDSN: Databases is the one the DSN names (Preflight says so).
	scopedByDSN bool
	creds       connector.Credentials
	cfg         *pgx.ConnConfig // without password
	filters     *connector.Compiled
	schemas     connector.SchemaSet // Source.Schemas
	push        pushdown
	// Expensive text the job excludes anyway is not computed.
	wantViewDefs, wantRoutineDefs, wantExprs bool
	lockTimeout                              string          // PostgreSQL interval syntax
	obs                                      *dbobs.Observer // nil: statements are not observed
}

var _ connector.Connector = (*Connector)(nil)

// Open validates the source and prepares a connector; it does not connect,
// so that Preflight can report a failing connection as a check. Its
// statements are not observed (see Observed).
func Open(_ context.Context, src connector.Source, creds connector.Credentials) (connector.Connector, error) {
	return openObserved(src, creds, nil)
}

func openObserved(src connector.Source, creds connector.Credentials, obs *dbobs.Observer) (connector.Connector, error) {
	filters, err := src.Compile()
	if err != nil {
		return nil, err
	}
	cfg, dsnDatabase, err := parseSource(src)
	if err != nil {
		return nil, err
	}
	var scopedByDSN bool
	src.Databases, scopedByDSN = src.DatabaseScope(dsnDatabase)
	creds = connector.OrNone(creds)
	schemas := connector.NewSchemaSet(src.Schemas).WithTables(src.Tables)
	excluded := func(f string) bool { return slices.Contains(src.ExcludeFields, f) }
	return &Connector{
		src:             src,
		scopedByDSN:     scopedByDSN,
		creds:           creds,
		cfg:             cfg,
		filters:         filters,
		schemas:         schemas,
		push:            newPushdown(filters, schemas),
		wantViewDefs:    !excluded("view_definition"),
		wantRoutineDefs: !excluded("definition"),
		wantExprs:       !excluded("default_value") || !excluded("generation_expression"),
		lockTimeout:     defaultLockTimeout,
		obs:             obs,
	}, nil
}

// Close releases nothing: connections live only inside Preflight/Extract.
func (c *Connector) Close() error { return nil }

// server names the server for messages: host:port.
func (c *Connector) server() string {
	return fmt.Sprintf("%s:%d", c.cfg.Host, c.cfg.Port)
}
