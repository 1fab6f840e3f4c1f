package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/dbobs"
)

// Conn is a MySQL/MariaDB connector. Open does not connect: Preflight
// reports connection problems as checks, Extract as errors.
type Conn struct {
	db      *sql.DB
	addr    string // host:port or socket path, for messages
	user    string
	timeout time.Duration
	scope   scope
	obs     *dbobs.Observer // nil: statements are not observed
	target  dbobs.Target
}

var _ connector.Connector = (*Conn)(nil)

// Open validates src and prepares a connection pool of one connection. The
// password is read from creds each time the driver connects and handed
// straight to the driver; it is not kept here. Its statements are not
// observed (see Observed).
func Open(_ context.Context, src connector.Source, creds connector.Credentials) (connector.Connector, error) {
	return openObserved(src, creds, nil)
}

func openObserved(src connector.Source, creds connector.Credentials, obs *dbobs.Observer) (connector.Connector, error) {
	filters, err := src.Compile()
	if err != nil {
		return nil, err
	}
	cfg, err := driverConfig(src)
	if err != nil {
		return nil, err
	}
	creds = connector.OrNone(creds)
	err = cfg.Apply(mysqldrv.BeforeConnect(func(ctx context.Context, c *mysqldrv.Config) error {
		pw, err := connector.PasswordFor(ctx, creds, []connector.Target{dialTarget(c)})
		if err != nil {
			return &credentialsError{err: err}
		}
		if !pw.IsZero() { // else keep an inline password the source allowed
			c.Passwd = pw.Reveal()
		}
		return nil
	}))
	if err != nil {
		return nil, fmt.Errorf("configure mysql driver: %w", err)
	}
	dc, err := mysqldrv.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql DSN: %v; check the tls and other parameters", err)
	}
	databases, scopedByDSN := src.DatabaseScope(cfg.DBName)
	db := sql.OpenDB(dc)
	// One connection: a catalog read is sequential, and one session keeps
	// the load on the source predictable.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	return &Conn{
		db:      db,
		addr:    cfg.Addr,
		user:    cfg.User,
		timeout: cfg.Timeout,
		scope: scope{connection: src.Connection, schemas: dedupe(databases), scopedByDSN: scopedByDSN,
			part: connector.NewSchemaSet(src.Schemas).WithTables(src.Tables), filters: filters},
		obs:    obs,
		target: target(cfg),
	}, nil
}

func dedupe(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Close closes the pool.
func (c *Conn) Close() error { return c.db.Close() }

// connect takes the pool's connection, dialling and logging in within the
// connect timeout; the attempt is counted.
func (c *Conn) connect(ctx context.Context) (*sql.Conn, error) {
	conn, err := c.dial(ctx)
	c.obs.Connected(Kind, err)
	return conn, err
}

// counter sends the statements of one Extract, Plan or Preflight on conn.
func (c *Conn) counter(conn *sql.Conn) *counter {
	return &counter{conn: conn, obs: c.obs, target: c.target}
}

func (c *Conn) dial(ctx context.Context) (*sql.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	conn, err := c.db.Conn(cctx)
	if err == nil {
		err = conn.PingContext(cctx)
		if err != nil {
			_ = conn.Close()
		}
	}
	if err != nil {
		return nil, c.connectError(ctx, err)
	}
	return conn, nil
}
