package postgres

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/secret"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// SQLSTATEs the connector explains.
const (
	codeInvalidPassword       = "28P01"
	codeInvalidAuthorization  = "28000"
	codeInsufficientPrivilege = "42501"
	codeInvalidCatalogName    = "3D000"
	codeLockNotAvailable      = "55P03"
	codeOutOfMemory           = "53200" // also "out of shared memory": the lock table is full
)

// password reads the source password just in time; it lives only in the
// pgx configuration of the connections made with it.
func (c *Connector) password(ctx context.Context) (secret.Value, error) {
	pw, err := connector.PasswordFor(ctx, c.creds, dialTargets(&c.cfg.Config))
	if err != nil {
		return secret.Value{}, fmt.Errorf("read the PostgreSQL password for %s from the secret store: %w", c.server(), err)
	}
	return pw, nil
}

// dial connects to one database within the connect timeout; the
// connection's statements are observed, and the attempt counted.
func (c *Connector) dial(ctx context.Context, password secret.Value, database string) (*pgx.Conn, error) {
	conn, err := c.connect(ctx, password, database)
	c.obs.Connected(Kind, err)
	return conn, err
}

// dialSession is dial with sessionSQL's settings (lock_timeout, JIT off)
// made at connection start, for a connection whose transactions are too
// short to pay a statement for them.
func (c *Connector) dialSession(ctx context.Context, password secret.Value, database string) (*pgx.Conn, error) {
	conn, err := c.connect(ctx, password, database, map[string]string{"lock_timeout": c.lockTimeout, "jit": "off"})
	c.obs.Connected(Kind, err)
	return conn, err
}

func (c *Connector) connect(ctx context.Context, password secret.Value, database string, params ...map[string]string) (*pgx.Conn, error) {
	cfg := c.cfg.Copy()
	cfg.Database = database
	for _, p := range params {
		if cfg.RuntimeParams == nil {
			cfg.RuntimeParams = map[string]string{}
		}
		for k, v := range p {
			cfg.RuntimeParams[k] = v
		}
	}
	if !password.IsZero() {
		cfg.Password = password.Reveal()
	}
	if c.obs != nil {
		cfg.Tracer = queryTracer{obs: c.obs, target: c.target(database)}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, c.explainConnect(ctx, err, database, password.Reveal())
	}
	if c.src.RequireTLS {
		if _, ok := conn.PgConn().Conn().(*tls.Conn); !ok {
			closeConn(ctx, conn)
			return nil, &actionError{
				problem: fmt.Sprintf("PostgreSQL at %s connected without TLS, but the source requires TLS", c.server()),
				action:  "enable ssl on the server, or clear require_tls if plain connections are acceptable",
			}
		}
	}
	return conn, nil
}

// explainConnect turns a connection error into one that says what to do.
// pgconn's messages name user, database and address, never the password;
// scrubbing makes sure of it.
func (c *Connector) explainConnect(ctx context.Context, err error, database, password string) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("connect to PostgreSQL at %s: %w", c.server(), scrubbedError{err: err, secret: password})
	}
	user := c.cfg.User
	e := &actionError{cause: scrubbedError{err: err, secret: password}}
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && (pgErr.Code == codeInvalidPassword || pgErr.Code == codeInvalidAuthorization):
		e.problem = fmt.Sprintf("PostgreSQL at %s refused user %q (%s)", c.server(), user, pgErr.Message)
		e.action = "check the user in the DSN and its password in the secret store, and that pg_hba.conf admits this user from the agent's address"
	case errors.As(err, &pgErr) && pgErr.Code == codeInsufficientPrivilege:
		e.problem = fmt.Sprintf("user %q lacks CONNECT on database %s at %s", user, database, c.server())
		e.action = fmt.Sprintf("run GRANT CONNECT ON DATABASE %s TO %s, or leave the database out of the source's databases",
			pgx.Identifier{database}.Sanitize(), pgx.Identifier{user}.Sanitize())
	case errors.As(err, &pgErr) && pgErr.Code == codeInvalidCatalogName:
		e.problem = fmt.Sprintf("database %q does not exist at %s", database, c.server())
		e.action = "correct the DSN's dbname or the source's databases"
	case c.src.RequireTLS && strings.Contains(err.Error(), "server refused TLS"):
		e.problem = fmt.Sprintf("PostgreSQL at %s refused TLS, and the source requires TLS", c.server())
		e.action = "enable ssl on the server (ssl = on with a certificate in postgresql.conf), or clear require_tls if plain connections are acceptable"
	case pgconn.Timeout(err) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		e.problem = fmt.Sprintf("no answer from PostgreSQL at %s within %s", c.server(), c.cfg.ConnectTimeout)
		e.action = "check that the server is running, the host and port in the DSN, and that firewalls let the agent reach it"
		return errkind.Wrap(errkind.Transient, e, "")
	default:
		e.problem = fmt.Sprintf("cannot connect to PostgreSQL at %s as %q", c.server(), user)
		e.action = "check that the server is running, the host, port and sslmode in the DSN, and that firewalls let the agent reach it"
		if !errors.As(err, &pgErr) || transientCode(pgErr.Code) {
			// The server could not be reached or is not accepting
			// connections now: a later attempt may succeed.
			return errkind.Wrap(errkind.Transient, e, "")
		}
	}
	return e
}

// transientCode reports SQLSTATE classes that describe the server's state
// rather than the request: connection exceptions (08), operator
// intervention such as a shutdown or a server still starting (57),
// insufficient resources (53) and transaction rollbacks (40).
func transientCode(code string) bool {
	if len(code) < 2 {
		return false
	}
	switch code[:2] {
	case "08", "57", "53", "40":
		return true
	}
	return false
}

// closeConn says goodbye to the server even when ctx is already done, but
// does not wait long for a server that stopped answering.
func closeConn(ctx context.Context, conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	_ = conn.Close(ctx)
}
