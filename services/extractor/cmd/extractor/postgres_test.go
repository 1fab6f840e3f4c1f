package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// schemasScript: schemas a (2 tables), b (3), c (1 table and a view) and
// d (none).
const schemasScript = `
CREATE SCHEMA a; CREATE TABLE a.t1 (id int PRIMARY KEY); CREATE TABLE a.t2 (id int REFERENCES a.t1);
CREATE SCHEMA b; CREATE TABLE b.t1 (x text); CREATE TABLE b.t2 (x text); CREATE TABLE b.t3 (x text);
CREATE SCHEMA c; CREATE TABLE c.t1 (id int); CREATE VIEW c.v1 AS SELECT id FROM c.t1;
CREATE SCHEMA d;
DROP SCHEMA public;`

func pgSpec(db string, tablesPerPartition int) job.Spec {
	return job.Spec{
		Version: 1, Connection: "default/postgres/1700000000",
		Source: job.Source{Kind: "postgres", DSN: pgAdminDSN, Databases: []string{db},
			Password: &job.SecretRef{Store: "secrets", Key: "pg-password"}},
		Partitioning: job.Partitioning{TablesPerPartition: tablesPerPartition},
	}
}

func (s *stack) preflight(t *testing.T, spec any) (int, []byte) {
	t.Helper()
	b, err := json.Marshal(spec)
	require.NoError(t, err)
	return httpDo(t, http.MethodPost, s.appURL+"/v1/preflight", b)
}

// Preflight splits a database with several schemas into schema groups of
// at most tables_per_partition tables; extracting every partition stages
// the whole database, each asset once, with sha256 and rows matching the
// events.
func TestPostgresPartitionsPreflightAndExtract(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{secrets: map[string]string{"pg-password": "unused-with-trust-auth", "pg-password:allowed_hosts": "127.0.0.1:5432"}})
	db := pgDatabase(t, schemasScript)
	spec := pgSpec(db, 3)

	status, body := s.preflight(t, spec)
	require.Equal(t, http.StatusOK, status, "%s", body)
	var pf job.Preflight
	require.NoError(t, json.Unmarshal(body, &pf))
	require.True(t, pf.OK, "%s", body)
	require.Equal(t, []job.Partition{
		{ID: "p000", Database: db, Schemas: []string{"a"}, Tables: 2},
		{ID: "p001", Database: db, Schemas: []string{"b"}, Tables: 3},
		{ID: "p002", Database: db, Schemas: []string{"c", "d"}, Tables: 2},
	}, pf.Partitions)
	for _, c := range pf.Checks {
		require.NotEqual(t, "fail", c.Status, "%+v", c)
	}

	// by: database keeps the database whole.
	whole := pgSpec(db, 3)
	whole.Partitioning.By = "database"
	status, body = s.preflight(t, whole)
	require.Equal(t, http.StatusOK, status, "%s", body)
	var pfWhole job.Preflight
	require.NoError(t, json.Unmarshal(body, &pfWhole))
	require.Equal(t, []job.Partition{{ID: "p000", Database: db, Tables: 7}}, pfWhole.Partitions)

	jobID := uniqueID(t, "job-pg-")
	for _, p := range pf.Partitions {
		s.request(t, job.ExtractRequest{JobID: jobID, Partition: p, Attempt: 1, Spec: spec, ExtractedAt: time.Now().UTC()})
	}
	var tables []string
	databases := 0
	runs := map[string]bool{}
	for _, p := range pf.Partitions {
		done := s.waitDone(t, jobID, p.ID, 1)
		require.True(t, done.OK, done.Error)
		require.Equal(t, sortedFiles(s.events.batchReadies(t, jobID, p.ID)), sortedFiles(done.Files))
		rows := s.requireStagedMatch(t, done.Files)
		require.Equal(t, rows, done.Rows)
		require.Equal(t, int64(p.Tables), rows[model.KindTable], "the plan counted the partition's tables")
		databases += int(rows[model.KindDatabase])
		runs[done.Run] = true
		for _, f := range done.Files {
			if f.Kind == model.KindTable {
				tables = append(tables, stringColumn(t, filepath.Join(s.stagingDir, f.Key), "qualified_name")...)
			}
		}
	}
	require.Len(t, runs, 3)
	require.Equal(t, 1, databases, "the database row is written by exactly one partition")
	slices.Sort(tables)
	prefix := "default/postgres/1700000000/" + db + "/"
	require.Equal(t, []string{prefix + "a/t1", prefix + "a/t2", prefix + "b/t1", prefix + "b/t2", prefix + "b/t3",
		prefix + "c/t1", prefix + "c/v1"}, tables)
}

// stringColumn reads one string column of a staged file.
func stringColumn(t *testing.T, path, field string) []string {
	t.Helper()
	var out []string
	require.NoError(t, model.ReadFile(path, func(_ model.Kind, rec arrow.Record) error {
		idx := rec.Schema().FieldIndices(field)
		require.Len(t, idx, 1)
		col := rec.Column(idx[0]).(*array.String)
		for i := 0; i < col.Len(); i++ {
			out = append(out, col.Value(i))
		}
		return nil
	}))
	return out
}

// Preflight answers an invalid spec with 400 listing every problem, and a
// source it cannot reach with a failing check (never a 500), without the
// password.
func TestPreflightProblems(t *testing.T) {
	t.Parallel()
	const canary = "canary-pw-0a9b8c7d"
	s := startStack(t, stackOptions{secrets: map[string]string{"pg-password": canary, "pg-password:allowed_hosts": "127.0.0.1:1 127.0.0.1:5432"}})

	status, body := s.preflight(t, map[string]any{"version": 2, "source": map[string]any{"kind": "oracle"},
		"partitioning": map[string]any{"tables_per_partition": -1}})
	require.Equal(t, http.StatusBadRequest, status, "%s", body)
	for _, want := range []string{"version", "connection", "source.kind", "source.dsn", "partitioning.tables_per_partition"} {
		require.Contains(t, string(body), want)
	}

	down := pgSpec("sales", 10)
	down.Source.DSN = "postgres://postgres@127.0.0.1:1/postgres"
	down.Source.ConnectTimeout = job.Duration(3 * time.Second)
	status, body = s.preflight(t, down)
	require.Equal(t, http.StatusOK, status, "%s", body)
	var pf job.Preflight
	require.NoError(t, json.Unmarshal(body, &pf))
	require.False(t, pf.OK)
	require.Empty(t, pf.Partitions)
	require.Equal(t, "fail", pf.Checks[0].Status)
	require.Contains(t, pf.Checks[0].Detail, "127.0.0.1:1")
	require.NotEmpty(t, pf.Checks[0].Remediation)
	require.NotContains(t, string(body), canary)

	missing := job.Spec{Version: 1, Connection: "default/sqlite/1", Source: job.Source{Kind: "sqlite", DSN: "/nonexistent/x.db"}}
	status, body = s.preflight(t, missing)
	require.Equal(t, http.StatusOK, status, "%s", body)
	pf = job.Preflight{}
	require.NoError(t, json.Unmarshal(body, &pf))
	require.False(t, pf.OK)
	require.Equal(t, []job.Check{{Name: "connect", Status: "fail",
		Detail:      "open SQLite source: SQLite file /nonexistent/x.db does not exist: check the path in the dsn (the connector never creates files)",
		Remediation: "fix what the detail names (source.dsn, source.databases or the file), then run the preflight again"}}, pf.Checks)

	// A SQLite file plans as one partition.
	ok := job.Spec{Version: 1, Connection: "default/sqlite/1", Source: job.Source{Kind: "sqlite", DSN: sqliteFile(t)}}
	status, body = s.preflight(t, ok)
	require.Equal(t, http.StatusOK, status, "%s", body)
	pf = job.Preflight{}
	require.NoError(t, json.Unmarshal(body, &pf))
	require.True(t, pf.OK, "%s", body)
	require.Len(t, pf.Partitions, 1)
	require.Equal(t, "shop", pf.Partitions[0].Database)
	require.Positive(t, pf.Partitions[0].Tables)
}
