package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
)

// A run that fails publishes PartitionDone{ok:false} with a message that
// names the partition, says what to do and never holds the password; only
// failures a retry may cure are retryable.
func TestFailedRunsArePublished(t *testing.T) {
	t.Parallel()
	const canary = "canary-pw-5f1e2d3c4b"
	s := startStack(t, stackOptions{secrets: map[string]string{"pg-password": canary, "pg-password:allowed_hosts": "127.0.0.1:1"}})
	pgDown := job.Source{Kind: "postgres", DSN: "postgres://postgres@127.0.0.1:1/postgres", Databases: []string{"sales"},
		Password: &job.SecretRef{Store: "secrets", Key: "pg-password"}, ConnectTimeout: job.Duration(3 * time.Second)}
	tests := []struct {
		name      string
		source    job.Source
		partition job.Partition
		retryable bool
		contains  []string
	}{
		{
			name: "server down", source: pgDown, partition: job.Partition{ID: "p000", Database: "sales"}, retryable: true,
			contains: []string{"partition p000 (database \"sales\")", "cannot connect to PostgreSQL at 127.0.0.1:1", "the job retries the partition"},
		},
		{
			name: "password secret missing", partition: job.Partition{ID: "p001", Database: "sales", Schemas: []string{"a", "b"}},
			source: func() job.Source {
				src := pgDown
				src.Password = &job.SecretRef{Store: "secrets", Key: "no-such-secret"}
				return src
			}(),
			contains: []string{`partition p001 (database "sales", schemas a, b)`, `"no-such-secret"`, "submit the job again"},
		},
		{
			name: "SQLite file missing", source: job.Source{Kind: "sqlite", DSN: "/nonexistent/shop.db"}, partition: job.Partition{ID: "p002"},
			contains: []string{"partition p002 (the whole source)", "/nonexistent/shop.db", "submit the job again"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := job.ExtractRequest{JobID: uniqueID(t, "job-fail-"), Partition: tc.partition, Attempt: 1,
				Spec: job.Spec{Version: 1, Connection: "default/x/1", Source: tc.source}}
			s.request(t, req)
			done := s.waitDone(t, req.JobID, tc.partition.ID, 1)
			require.False(t, done.OK)
			require.Equal(t, tc.retryable, done.Retryable, done.Error)
			require.Empty(t, done.Files)
			require.NotEmpty(t, done.Run)
			for _, want := range tc.contains {
				require.Contains(t, done.Error, want)
			}
			require.NotContains(t, done.Error, canary)
			require.Empty(t, s.events.batchReadies(t, req.JobID, tc.partition.ID))
		})
	}
	require.Empty(t, s.stagedFiles(t))
	s.requireMetric(t, "secure_agent_extractor_requests_total", `result="failed"`, float64(len(tests)))
	// The server down: its password and host binding were read, the
	// connection failed; the missing secret: one read, not found.
	s.requireMetric(t, "secure_agent_secret_reads_total", `result="ok",store="secrets"`, 2)
	s.requireMetric(t, "secure_agent_secret_reads_total", `result="not_found",store="secrets"`, 1)
	s.requireMetric(t, "secure_agent_source_connections_total", `connector="postgres",result="error"`, 1)
	s.requireMetric(t, "secure_agent_source_connections_total", `connector="sqlite",result="error"`, 1)
}
