package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", to build test files

	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/mysql"
	"github.com/secure-agent/secure-agent/services/extractor/connector/postgres"
	"github.com/secure-agent/secure-agent/services/extractor/connector/sqlite"
)

// pgAdminDSN is the test server (trust authentication, see preamble of the
// project's test setup: deploy/ci/ensure-services.sh).
const pgHost = "127.0.0.1:5432"

func pgDSN(db string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", pgHost, db)
}

func testRegistry() connector.Registry {
	return connector.Registry{"postgres": postgres.Open, "mysql": mysql.Open, "sqlite": sqlite.Open}
}

type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs agentctl in-process with only the given environment.
func runCLI(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := Run(ctx, args, Env{
		Registry: testRegistry(),
		Version:  "test-version",
		LookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		},
		Stdout:        &stdout,
		Stderr:        &stderr,
		ProgressEvery: 5 * time.Millisecond,
	})
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func randomSuffix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// parseSummary checks that stdout is exactly one JSON line and decodes it.
func parseSummary(t *testing.T, stdout string) summary {
	t.Helper()
	require.True(t, strings.HasSuffix(stdout, "\n"), "summary must end with a newline: %q", stdout)
	require.Equal(t, 1, strings.Count(stdout, "\n"), "stdout must be exactly one line: %q", stdout)
	var s summary
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&s))
	return s
}

// sqliteFile creates a small shop database: four tables with primary,
// foreign and unique keys, an index and a view over two tables.
func sqliteFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shop.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	for _, stmt := range []string{
		`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE)`,
		`CREATE TABLE products (id INTEGER PRIMARY KEY, title TEXT NOT NULL, price REAL DEFAULT 0)`,
		`CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), total REAL)`,
		`CREATE TABLE order_items (
			order_id INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
			product_id INTEGER NOT NULL REFERENCES products(id),
			qty INTEGER NOT NULL,
			PRIMARY KEY (order_id, product_id))`,
		`CREATE INDEX orders_customer_idx ON orders (customer_id)`,
		`CREATE VIEW customer_totals AS SELECT c.name, sum(o.total) AS total FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name`,
		`INSERT INTO customers VALUES (1, 'Ada', 'ada@example.com')`,
		`INSERT INTO orders VALUES (1, 1, 10.5)`,
	} {
		_, err := db.Exec(stmt)
		require.NoError(t, err, stmt)
	}
	return path
}

// pgDatabase creates a uniquely named database, runs the statements in it
// and drops it when the test ends.
func pgDatabase(t *testing.T, stmts ...string) string {
	t.Helper()
	ctx := context.Background()
	name := "sa_agentctl_" + randomSuffix(t)
	admin, err := pgx.Connect(ctx, pgDSN("postgres"))
	require.NoError(t, err, "PostgreSQL must run on %s (make services)", pgHost)
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, "CREATE DATABASE "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), pgDSN("postgres"))
		if err != nil {
			t.Errorf("drop %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	conn, err := pgx.Connect(ctx, pgDSN(name))
	require.NoError(t, err)
	defer conn.Close(ctx)
	for _, s := range stmts {
		_, err := conn.Exec(ctx, s)
		require.NoError(t, err, s)
	}
	return name
}
