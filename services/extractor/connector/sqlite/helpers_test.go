package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/internal/conntest"
	"github.com/secure-agent/secure-agent/services/extractor/connector/sqlite"
)

const testConnection = "default/sqlite/1700000000"

// result is what one extraction wrote, decoded for assertions.
type result struct {
	sink *conntest.Sink
	rows map[model.Kind][]map[string]any
}

// volatile fields are left out of comparisons. Unlike on a server,
// row_count is kept: in a SQLite file it is what the fixture's ANALYZE
// recorded, exactly.
var volatile = []string{"job_id", "extracted_at", "created_at", "altered_at", "last_analyzed", "total_bytes"}

func newResult(sink *conntest.Sink) *result {
	r := &result{sink: sink, rows: map[model.Kind][]map[string]any{}}
	for _, row := range sink.Rows() {
		r.rows[row.Kind] = append(r.rows[row.Kind], row.Fields)
	}
	return r
}

// lines renders every row as canonical JSON, sorted by kind then
// qualified name.
func (r *result) lines() []string { return r.sink.Lines(volatile...) }

func (r *result) count(k model.Kind) int { return len(r.rows[k]) }

func (r *result) batches(k model.Kind) int { return len(r.sink.Batches(k)) }

// where returns the rows of kind k whose field equals value.
func (r *result) where(k model.Kind, field string, value any) []map[string]any {
	var out []map[string]any
	for _, row := range r.rows[k] {
		if row[field] == value {
			out = append(out, row)
		}
	}
	return out
}

// createDB creates a SQLite file in a fresh temporary directory from SQL
// text and returns its path.
func createDB(t *testing.T, name, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(script)
	require.NoError(t, err, "create %s", name)
	return path
}

func fixtureSQL(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fixture.sql"))
	require.NoError(t, err)
	return string(b)
}

func source(path string) connector.Source {
	return connector.Source{Kind: sqlite.Kind, Connection: testConnection, DSN: path, ConnectTimeout: 5 * time.Second}
}

func open(t *testing.T, src connector.Source) connector.Connector {
	t.Helper()
	c, err := sqlite.Open(context.Background(), src, connector.NoCredentials{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

// extract runs a full extraction into a memory sink.
func extract(t *testing.T, src connector.Source, opts model.WriterOptions) (*result, connector.Stats) {
	t.Helper()
	c := open(t, src)
	sink := &conntest.Sink{}
	t.Cleanup(sink.Release)
	opts.JobID = "job-1"
	w, err := model.NewWriter(sink, opts)
	require.NoError(t, err)
	st, err := c.Extract(context.Background(), w)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return newResult(sink), st
}

func checkNamed(t *testing.T, checks []connector.Check, name string) connector.Check {
	t.Helper()
	for _, c := range checks {
		if c.Name == name {
			return c
		}
	}
	var names []string
	for _, c := range checks {
		names = append(names, c.Name)
	}
	t.Fatalf("no check %q in %s", name, strings.Join(names, ", "))
	return connector.Check{}
}

// openErr opens src expecting failure; a connector that did open is closed.
func openErr(src connector.Source) (time.Duration, error) {
	start := time.Now()
	c, err := sqlite.Open(context.Background(), src, connector.NoCredentials{})
	took := time.Since(start)
	if err == nil {
		c.Close()
	}
	return took, err
}
