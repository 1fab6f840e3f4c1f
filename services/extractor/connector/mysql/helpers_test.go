package mysql

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/libs/secret"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/internal/conntest"
)

var update = flag.Bool("update", false, "rewrite testdata/mysql.golden")

const testConnection = "default/mysql/1700000000"

// serverDSN is the test server, a MariaDB or MySQL whose user may create
// schemas and users; MYSQL_TEST_DSN overrides the local default.
func serverDSN() string {
	if dsn := os.Getenv("MYSQL_TEST_DSN"); dsn != "" {
		return dsn
	}
	return "root@tcp(127.0.0.1:3306)/"
}

// admin opens a multi-statement connection for fixtures.
func admin(t *testing.T) *sql.DB {
	t.Helper()
	cfg, err := mysqldrv.ParseDSN(serverDSN())
	require.NoError(t, err)
	cfg.MultiStatements = true
	dc, err := mysqldrv.NewConnector(cfg)
	require.NoError(t, err)
	db := sql.OpenDB(dc)
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, db.PingContext(ctx), "the tests need a MySQL/MariaDB server: set MYSQL_TEST_DSN (default %s)", serverDSN())
	return db
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// fixture is one loaded copy of testdata/fixture.sql under a unique prefix.
type fixture struct {
	db     *sql.DB
	prefix string
}

func (f fixture) schemas() []string {
	return []string{f.prefix + "sales", f.prefix + "inventory", f.prefix + "Odd/Sch.ema ü"}
}

// loadFixture creates the fixture's schemas and drops them at the end.
func loadFixture(t *testing.T) fixture {
	t.Helper()
	db := admin(t)
	f := fixture{db: db, prefix: "sa_my_" + randomHex(t, 4) + "_"}
	t.Cleanup(func() { dropPrefixed(t, db, f.prefix) })
	sqlText, err := os.ReadFile("testdata/fixture.sql")
	require.NoError(t, err)
	_, err = db.Exec(strings.ReplaceAll(string(sqlText), "{{P}}", f.prefix))
	require.NoError(t, err, "load fixture")
	return f
}

func dropPrefixed(t *testing.T, db *sql.DB, prefix string) {
	rows, err := db.Query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE CONCAT(?, '%')", prefix)
	if err != nil {
		t.Errorf("list fixture schemas to drop: %v", err)
		return
	}
	var names []string
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil {
			names = append(names, n)
		}
	}
	_ = rows.Close()
	if len(names) == 0 {
		return
	}
	// One multi-statement exec: one session, so cross-schema foreign keys
	// do not block the drops.
	stmt := "SET foreign_key_checks = 0;"
	for _, n := range names {
		stmt += " DROP DATABASE " + quoteIdent(n) + ";"
	}
	if _, err := db.Exec(stmt + " SET foreign_key_checks = 1"); err != nil {
		t.Errorf("drop fixture schemas %v: %v", names, err)
	}
}

// source is the fixture as a source: root on the test server, limited to
// the fixture's schemas.
func (f fixture) source() connector.Source {
	return connector.Source{Kind: "mysql", Connection: testConnection, DSN: serverDSN(), Databases: f.schemas()}
}

type password string

func (p password) Password(context.Context) (secret.Value, error) { return secret.New(string(p)), nil }

// extract opens src, extracts into a fresh sink and returns it.
func extract(t *testing.T, src connector.Source, creds connector.Credentials, opts model.WriterOptions) (*conntest.Sink, connector.Stats) {
	t.Helper()
	sink, stats, err := tryExtract(t, src, creds, opts)
	require.NoError(t, err)
	return sink, stats
}

func tryExtract(t *testing.T, src connector.Source, creds connector.Credentials, opts model.WriterOptions) (*conntest.Sink, connector.Stats, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Open(ctx, src, creds)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	sink := &conntest.Sink{}
	t.Cleanup(sink.Release)
	if opts.JobID == "" {
		opts.JobID = "job-1"
	}
	opts.ExcludeFields = src.ExcludeFields
	w, err := model.NewWriter(sink, opts)
	require.NoError(t, err)
	stats, err := c.Extract(ctx, w)
	require.NoError(t, w.Close())
	return sink, stats, err
}

// lines renders the sink for comparison, with the fixture's prefix shown
// as {{P}} so runs compare equal.
func (f fixture) lines(sink *conntest.Sink, drop ...string) []string {
	raw := sink.Lines(append(append([]string(nil), conntest.Volatile...), drop...)...)
	out := make([]string, len(raw))
	for i, l := range raw {
		out[i] = strings.ReplaceAll(l, f.prefix, "{{P}}")
	}
	return out
}

func preflight(t *testing.T, src connector.Source, creds connector.Credentials) map[string]connector.Check {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Open(ctx, src, creds)
	require.NoError(t, err)
	defer c.Close()
	out := map[string]connector.Check{}
	for _, ch := range c.Preflight(ctx) {
		_, dup := out[ch.Name]
		require.False(t, dup, "duplicate check %s", ch.Name)
		out[ch.Name] = ch
	}
	return out
}
