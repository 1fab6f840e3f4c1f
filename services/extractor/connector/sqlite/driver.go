package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"

	"modernc.org/sqlite"

	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// SQL functions the catalog queries call to push the job's filters down.
// SQLite has no regular expressions of its own, so instead of binding
// patterns the connector gives each of its connections these two functions,
// which run the compiled Go patterns themselves: SQL and Go can never
// disagree, and the per-table pragma functions never run for an excluded
// table (so excluding a broken view makes extraction work again).
const (
	fnSchemaIncluded = "secure_agent_schema_included" // (schema) -> 0/1
	fnTableIncluded  = "secure_agent_table_included"  // (schema, table) -> 0/1
)

// openDB opens dsn through a driver of this connector's own, so the filter
// functions are registered on its connections only (no process-wide
// registration, nothing shared between jobs). The table function also
// applies the partition's schema group; the schema function does not, so
// that the schema statement sees every selected schema (see readSchemas).
func openDB(dsn, database string, filters *connector.Compiled, schemas connector.SchemaSet) (*sql.DB, error) {
	drv := &sqlite.Driver{}
	err := drv.RegisterDeterministicScalarFunction(fnSchemaIncluded, 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		return filters.SchemaIncluded(database, text(args[0])), nil
	})
	if err == nil {
		err = drv.RegisterDeterministicScalarFunction(fnTableIncluded, 2, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			schema := text(args[0])
			return schemas.HasTable(schema, text(args[1])) && filters.TableIncluded(database, schema, text(args[1])), nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("register the filter functions with SQLite: %w", err)
	}
	db := sql.OpenDB(fileConnector{drv: drv, dsn: dsn})
	// One connection: every read runs in one transaction on it anyway, and
	// a single file handle keeps the footprint on the source minimal.
	db.SetMaxOpenConns(1)
	return db, nil
}

func text(v driver.Value) string {
	switch s := v.(type) {
	case string:
		return s
	case []byte:
		return string(s)
	default:
		return fmt.Sprint(v)
	}
}

// fileConnector hands database/sql connections from the private driver.
// It returns the driver's connection unwrapped, keeping its optional
// interfaces (context-aware queries, BeginTx options).
type fileConnector struct {
	drv *sqlite.Driver
	dsn string
}

func (c fileConnector) Connect(ctx context.Context) (driver.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.drv.Open(c.dsn)
}

func (c fileConnector) Driver() driver.Driver { return c.drv }
