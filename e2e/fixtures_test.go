package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

const (
	pgAdminDSN    = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	mariaAdminDSN = "root@tcp(127.0.0.1:3306)/?multiStatements=true"
)

// pgCatalog creates (or recreates) database db with schemas s00.. each
// holding tables t000.. (pk, fk to the previous table, an index) and one
// view, and returns the agent's DSN for it.
func pgCatalog(t *testing.T, db string, schemas, tables int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, pgAdminDSN)
	require.NoError(t, err, "PostgreSQL on 127.0.0.1:5432 (run `make services`)")
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
	require.NoError(t, err)
	_, err = admin.Exec(ctx, "CREATE DATABASE "+db)
	require.NoError(t, err)
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:5432/%s?sslmode=disable", db))
	require.NoError(t, err)
	defer conn.Close(ctx)
	// At most 50 tables a statement batch: a batch is one transaction, and
	// the locks of a whole catalog's tables and indexes in one transaction
	// (about five a table), taken by tests building catalogs at once,
	// exceed PostgreSQL's shared lock table ("out of shared memory").
	var ddl strings.Builder
	exec := func(what string) {
		_, err := conn.Exec(ctx, ddl.String())
		require.NoError(t, err, "create %s of %s", what, db)
		ddl.Reset()
	}
	for s := 0; s < schemas; s++ {
		fmt.Fprintf(&ddl, "CREATE SCHEMA s%02d;\n", s)
		for i := 0; i < tables; i++ {
			if i > 0 && i%50 == 0 {
				exec(fmt.Sprintf("s%02d.t%03d", s, i-1))
			}
			ref := ""
			if i > 0 {
				ref = fmt.Sprintf(", prev_id int REFERENCES s%02d.t%03d(id)", s, i-1)
			}
			fmt.Fprintf(&ddl, "CREATE TABLE s%02d.t%03d (id int PRIMARY KEY, name text NOT NULL, created timestamptz%s);\n", s, i, ref)
			fmt.Fprintf(&ddl, "CREATE INDEX ON s%02d.t%03d (name);\n", s, i)
			fmt.Fprintf(&ddl, "COMMENT ON TABLE s%02d.t%03d IS 'table %d of schema %d';\n", s, i, i, s)
		}
		fmt.Fprintf(&ddl, "CREATE VIEW s%02d.v AS SELECT id, name FROM s%02d.t000;\n", s, s)
		exec(fmt.Sprintf("schema s%02d", s))
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, pgAdminDSN); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
			_ = c.Close(ctx)
		}
	})
	return fmt.Sprintf("postgres://postgres@127.0.0.1:5432/%s?sslmode=disable", db)
}

// mariaCatalog creates MariaDB databases (the agent's schemas) name_0..
// with tables and a view each.
func mariaCatalog(t *testing.T, name string, dbs, tables int) {
	t.Helper()
	db, err := sql.Open("mysql", mariaAdminDSN)
	require.NoError(t, err)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, db.PingContext(ctx), "MariaDB on 127.0.0.1:3306 (run `make services`)")
	for d := 0; d < dbs; d++ {
		schema := fmt.Sprintf("%s_%d", name, d)
		var ddl strings.Builder
		fmt.Fprintf(&ddl, "DROP DATABASE IF EXISTS %s; CREATE DATABASE %s;\n", schema, schema)
		for i := 0; i < tables; i++ {
			ref := ""
			if i > 0 {
				ref = fmt.Sprintf(", prev_id int, FOREIGN KEY (prev_id) REFERENCES %s.t%03d(id)", schema, i-1)
			}
			fmt.Fprintf(&ddl, "CREATE TABLE %s.t%03d (id int PRIMARY KEY, name varchar(64) NOT NULL, KEY (name)%s) COMMENT 'table %d';\n", schema, i, ref, i)
		}
		fmt.Fprintf(&ddl, "CREATE VIEW %s.v AS SELECT id, name FROM %s.t000;\n", schema, schema)
		_, err := db.ExecContext(ctx, ddl.String())
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("mysql", mariaAdminDSN)
		if err != nil {
			return
		}
		defer db.Close()
		for d := 0; d < dbs; d++ {
			_, _ = db.Exec(fmt.Sprintf("DROP DATABASE IF EXISTS %s_%d", name, d))
		}
	})
}

// mariaUser creates a MariaDB user with a password that can read the
// catalog of the schemas matching pattern (e.g. "sa_e2e_canary\_%").
func mariaUser(t *testing.T, user, password, pattern string) {
	t.Helper()
	db, err := sql.Open("mysql", mariaAdminDSN)
	require.NoError(t, err)
	defer db.Close()
	stmts := []string{
		fmt.Sprintf("DROP USER IF EXISTS '%s'@'127.0.0.1'", user),
		fmt.Sprintf("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY '%s'", user, password),
		fmt.Sprintf("GRANT SELECT, SHOW VIEW ON `%s`.* TO '%s'@'127.0.0.1'", pattern, user),
	}
	for _, s := range stmts {
		_, err := db.Exec(s)
		require.NoError(t, err, strings.Replace(s, password, "***", 1))
	}
	t.Cleanup(func() {
		if db, err := sql.Open("mysql", mariaAdminDSN); err == nil {
			_, _ = db.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'127.0.0.1'", user))
			db.Close()
		}
	})
}

// demoDB writes the bundled demo SQLite database into a temp dir.
func demoDB(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "retail.db")
	out, err := exec.Command(filepath.Join(root(t), "bin", "demodb"), p).CombinedOutput()
	require.NoError(t, err, "demodb: %s", out)
	return p
}

// tcpProxy forwards a loopback port to target until Close, which refuses
// new connections and cuts the open ones: a source server going down.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
	// arrived is closed when a client's first bytes reached the target.
	arrived chan struct{}
	once    sync.Once
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &tcpProxy{ln: ln, target: target, arrived: make(chan struct{})}
	go p.serve()
	t.Cleanup(p.Close)
	return p
}

func (p *tcpProxy) Addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			up.Close()
			return
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(arrivalWriter{up, p}, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

// arrivalWriter closes the proxy's arrived channel once it wrote bytes.
type arrivalWriter struct {
	io.Writer
	p *tcpProxy
}

func (w arrivalWriter) Write(b []byte) (int, error) {
	n, err := w.Writer.Write(b)
	if n > 0 {
		w.p.once.Do(func() { close(w.p.arrived) })
	}
	return n, err
}

// waitArrival waits until a client's request reached the target.
func (p *tcpProxy) waitArrival(t *testing.T) {
	t.Helper()
	select {
	case <-p.arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("no request reached " + p.target + " through the proxy")
	}
}

// Close stops the proxy: the port refuses connections from now on.
func (p *tcpProxy) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
}

// flushRedisDB empties one Redis database, so a run starts without streams,
// consumer groups or state keys of an earlier run.
func flushRedisDB(t *testing.T, addr string, db int) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err, "Redis on %s (run `make services`)", addr)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = fmt.Fprintf(c, "SELECT %d\r\nFLUSHDB\r\n", db)
	require.NoError(t, err)
	buf := make([]byte, 64)
	got := ""
	for strings.Count(got, "\r\n") < 2 {
		n, err := c.Read(buf)
		require.NoError(t, err)
		got += string(buf[:n])
	}
	require.Equal(t, "+OK\r\n+OK\r\n", got)
}
