package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// sqliteFile creates a SQLite file from the connector's test fixture.
func sqliteFile(t *testing.T) string {
	t.Helper()
	script, err := os.ReadFile(filepath.Join("..", "..", "connector", "sqlite", "testdata", "fixture.sql"))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "shop.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(string(script))
	require.NoError(t, err)
	return path
}

// A SQLite source through the whole run: files staged and announced, the
// record saved, PartitionDone carrying exactly the run's files.
func TestExtractSQLite(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	req := job.ExtractRequest{
		JobID: uniqueID(t, "job-sqlite-"), Partition: job.Partition{ID: "p000"}, Attempt: 1,
		Spec: job.Spec{Version: 1, Connection: "default/sqlite/1700000000",
			Source: job.Source{Kind: "sqlite", DSN: sqliteFile(t)}},
		ExtractedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	s.request(t, req)
	done := s.waitDone(t, req.JobID, "p000", 1)

	require.True(t, done.OK, done.Error)
	require.Equal(t, 1, done.Attempt)
	require.Len(t, done.Run, 16)
	require.Positive(t, done.Queries)
	announced := s.events.batchReadies(t, req.JobID, "p000")
	require.Equal(t, sortedFiles(announced), sortedFiles(done.Files), "PartitionDone lists exactly the announced files")
	rows := s.requireStagedMatch(t, done.Files)
	require.Equal(t, rows, done.Rows, "PartitionDone rows are the sum of the files' rows")
	for _, k := range []model.Kind{model.KindDatabase, model.KindSchema, model.KindTable, model.KindColumn} {
		require.Positive(t, rows[k], k)
	}
	require.Equal(t, int64(1), rows[model.KindDatabase])
	require.Len(t, s.stagedFiles(t), len(done.Files))

	// The record of the run is in the state store.
	rec := s.record(t, req.JobID, "p000")
	require.Equal(t, done.Run, rec.Run)
	require.Equal(t, sortedFiles(done.Files), sortedFiles(rec.Files))
	s.requireMetric(t, "secure_agent_extractor_requests_total", `result="extracted"`, float64(1))
	s.requireMetric(t, "secure_agent_extractor_batches_announced_total", "", float64(len(done.Files)))
	// The connector's statements are observed by the running service.
	s.requireMetric(t, "secure_agent_source_connections_total", `connector="sqlite",result="ok"`, 1)
	for _, st := range []string{"open", "begin", "columns", "commit"} {
		s.requireMetric(t, "secure_agent_source_statements_total", `connector="sqlite",result="ok",statement="`+st+`"`, 1)
	}
}
