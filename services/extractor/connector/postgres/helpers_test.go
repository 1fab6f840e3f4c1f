package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/internal/conntest"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// The test server: PostgreSQL on loopback with trust authentication.
const (
	adminDSN   = "postgres://postgres@127.0.0.1:5432/postgres"
	connection = "default/postgres/1700000000"
)

func uniqueName(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 5)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return prefix + hex.EncodeToString(b)
}

func adminExec(t testing.TB, dsn, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer func() { _ = conn.Close(ctx) }()
	// No arguments: the simple protocol, so a script may hold many statements.
	_, err = conn.Exec(ctx, sql)
	require.NoError(t, err)
}

// newDatabase creates a uniquely named database, runs the scripts in it and
// drops it when the test ends.
func newDatabase(t testing.TB, scripts ...string) string {
	t.Helper()
	name := uniqueName(t, "sapg_")
	adminExec(t, adminDSN, "CREATE DATABASE "+name)
	t.Cleanup(func() {
		adminExec(t, adminDSN, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	for _, s := range scripts {
		adminExec(t, dbDSN(name), s)
	}
	return name
}

func dbDSN(db string) string { return "postgres://postgres@127.0.0.1:5432/" + db }

func fixtureSQL(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("testdata/fixture.sql")
	require.NoError(t, err)
	return string(b)
}

func source(dbs ...string) connector.Source {
	return connector.Source{Kind: "postgres", Connection: connection, DSN: adminDSN, Databases: dbs, ConnectTimeout: 10 * time.Second}
}

func open(t testing.TB, src connector.Source) connector.Connector {
	t.Helper()
	c, err := Open(context.Background(), src, connector.NoCredentials{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// extract runs one extraction into an in-memory sink.
func extract(t testing.TB, src connector.Source, opts model.WriterOptions) (*conntest.Sink, connector.Stats) {
	t.Helper()
	c := open(t, src)
	sink := &conntest.Sink{}
	t.Cleanup(sink.Release)
	if opts.JobID == "" {
		opts.JobID = "job-1"
	}
	opts.ExcludeFields = src.ExcludeFields
	w, err := model.NewWriter(sink, opts)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := c.Extract(ctx, w)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return sink, st
}

// lines renders the sink canonically, with the random database name
// replaced so that the output is stable.
func lines(sink *conntest.Sink, db string) []string {
	out := sink.Lines(conntest.Volatile...)
	for i, l := range out {
		out[i] = strings.ReplaceAll(l, db, "fixture")
	}
	return out
}

// names lists the values of field f of the rows of kind k.
func names(sink *conntest.Sink, k model.Kind, f string) []string {
	var out []string
	for _, r := range sink.Rows() {
		if r.Kind == k {
			out = append(out, fmt.Sprint(r.Fields[f]))
		}
	}
	return out
}

func checkByName(checks []connector.Check, name string) (connector.Check, bool) {
	for _, c := range checks {
		if c.Name == name {
			return c, true
		}
	}
	return connector.Check{}, false
}
