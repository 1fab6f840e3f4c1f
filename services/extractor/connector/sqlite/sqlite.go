package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/dbobs"
)

// Kind is the Source.Kind this package serves.
const Kind = "sqlite"

const defaultConnectTimeout = 10 * time.Second

// Connector reads one SQLite file's catalog.
type Connector struct {
	db      *sql.DB
	src     connector.Source
	loc     location
	header  fileHeader
	names   model.Names // Connection and Database set; Schema/Table per row
	filters *connector.Compiled
	schemas connector.SchemaSet // Source.Schemas; only "main" exists
	timeout time.Duration       // connect timeout, also the longest wait for a writer's lock
	obs     *dbobs.Observer     // nil: statements are not observed
}

var _ connector.Connector = (*Connector)(nil)

// Open checks that src.DSN names a readable SQLite 3 file and opens it
// read-only. creds is not used: SQLite has no authentication. Its
// statements are not observed (see Observed).
func Open(ctx context.Context, src connector.Source, _ connector.Credentials) (connector.Connector, error) {
	return openObserved(ctx, src, nil)
}

func openObserved(ctx context.Context, src connector.Source, obs *dbobs.Observer) (connector.Connector, error) {
	filters, err := src.Compile()
	if err != nil {
		return nil, err
	}
	loc, err := parseDSN(src.DSN, src.AllowInlinePassword)
	if err != nil {
		return nil, fmt.Errorf("open SQLite source: %w", err)
	}
	dbName, err := databaseName(src, loc.path)
	if err != nil {
		return nil, fmt.Errorf("open SQLite source %s: %w", loc.path, err)
	}
	c, err := openFile(ctx, src, loc, dbName, filters, obs)
	// Opening the file is the connection: counted once it was tried.
	obs.Connected(Kind, err)
	return c, err
}

func openFile(ctx context.Context, src connector.Source, loc location, dbName string, filters *connector.Compiled, obs *dbobs.Observer) (connector.Connector, error) {
	header, err := inspectFile(loc.path)
	if err != nil {
		return nil, fmt.Errorf("open SQLite source: %w", err)
	}
	timeout := src.ConnectTimeout
	if timeout <= 0 {
		timeout = defaultConnectTimeout
	}
	schemas := connector.NewSchemaSet(src.Schemas).WithTables(src.Tables)
	db, err := openDB(loc.driverDSN(timeout), dbName, filters, schemas)
	if err != nil {
		return nil, fmt.Errorf("open SQLite source %s: %w", loc.path, err)
	}
	c := &Connector{
		db: db, src: src, loc: loc, header: header, filters: filters, schemas: schemas, timeout: timeout,
		names: model.Names{Connection: src.Connection, Database: dbName}, obs: obs,
	}
	if err := c.verify(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return c, nil
}

// verify reads the schema cookie once: SQLite opens files lazily, so only
// a first read shows that the file is a database and not locked away. The
// cookie is in the file's header: reading it takes the shared lock but
// does not parse the schema, which is CPU work that grows with the number
// of tables (seconds for 50,000) and is left to the extraction's own
// statements, outside the connect timeout.
func (c *Connector) verify(parent context.Context) error {
	ctx, cancel := context.WithTimeout(parent, c.timeout)
	defer cancel()
	var n int
	err := c.session(c.db).one(ctx, stOpen, `PRAGMA main.schema_version`, &n)
	switch {
	case err == nil:
		return nil
	case parent.Err() != nil:
		return fmt.Errorf("open SQLite source %s: %w", c.loc.path, parent.Err())
	case ctx.Err() != nil:
		return fmt.Errorf("open SQLite source %s: no answer within the connect timeout (%s): "+
			"the file may be locked by a writer or on a stalled file system; retry, or raise connect_timeout: %w", c.loc.path, c.timeout, err)
	default:
		return fmt.Errorf("open SQLite source: %w", c.explain(err))
	}
}

// explain adds what to do to the SQLite errors a reader can meet.
func (c *Connector) explain(err error) error {
	code := -1
	var se *sqlite.Error
	if errors.As(err, &se) {
		code = se.Code() & 0xff // primary result code
	}
	switch {
	case code == sqlite3.SQLITE_BUSY, code == sqlite3.SQLITE_LOCKED:
		return fmt.Errorf("%s: the database stayed locked by another process for longer than the connect timeout (%s): "+
			"retry when its writer has finished, or raise connect_timeout: %w", c.loc.path, c.timeout, err)
	case code == sqlite3.SQLITE_NOTADB, code == sqlite3.SQLITE_CORRUPT:
		return fmt.Errorf("%s is not a readable SQLite database (%w): set the dsn to an intact, unencrypted SQLite 3 file", c.loc.path, err)
	case code == sqlite3.SQLITE_CANTOPEN, code == sqlite3.SQLITE_READONLY:
		hint := "grant the agent's user read permission on the file and its directory"
		if c.header.wal {
			hint = "the file is in WAL mode: SQLite needs its -wal and -shm files, or write permission on the directory to create them; " +
				"grant that, or extract a copy (or add the dsn parameter immutable=1 if nothing writes the file)"
		}
		return fmt.Errorf("SQLite cannot open %s read-only (%w): %s", c.loc.path, err, hint)
	}
	return fmt.Errorf("%s: %w", c.loc.path, err)
}

// databaseName is Source.Databases[0] if given (not "*"), else the file name without
// its extension.
func databaseName(src connector.Source, path string) (string, error) {
	switch {
	case len(src.Databases) == 0 || len(src.Databases) == 1 && src.Databases[0] == connector.AllDatabases:
		base := filepath.Base(path)
		if name := strings.TrimSuffix(base, filepath.Ext(base)); name != "" {
			return name, nil
		}
		return base, nil
	case len(src.Databases) == 1:
		if strings.TrimSpace(src.Databases[0]) == "" {
			return "", errors.New("databases[0] is empty: give the name the file's database should have in the catalog, or leave databases out")
		}
		return src.Databases[0], nil
	default:
		return "", fmt.Errorf("databases lists %d names, but a SQLite source is one file holding one database: "+
			"give at most one name (the database's name in the catalog)", len(src.Databases))
	}
}

// tableIncluded applies the filters and the schema group to a table.
func (c *Connector) tableIncluded(schema, table string) bool {
	return c.schemas.HasTable(schema, table) && c.filters.TableIncluded(c.names.Database, schema, table)
}

// Close closes the file.
func (c *Connector) Close() error {
	if err := c.db.Close(); err != nil {
		return fmt.Errorf("close SQLite file %s: %w", c.loc.path, err)
	}
	return nil
}
