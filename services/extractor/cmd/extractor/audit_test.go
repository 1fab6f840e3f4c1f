package main

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
)

// With the audit log's writer unavailable, the extractor reads the
// source's secret but does not use it: the partition fails saying so, and
// the source (a listener bound to the secret) sees no connection at all.
func TestAuditWriterUnavailableTheSecretIsNotUsed(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	var dials atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			dials.Add(1)
			_ = c.Close()
		}
	}()
	addr := ln.Addr().String()
	const canary = "canary-audit-7d1e"
	s := startStack(t, stackOptions{
		secrets: map[string]string{"pg-password": canary, "pg-password:allowed_hosts": addr, "audit-hmac-key": "k-0123456789abcdef"},
		// No app answers as the writer: every append fails.
		env: map[string]string{"AUDIT": "required", "AUDIT_WRITER_APP_ID": "no-audit-writer", "AUDIT_TIMEOUT": "2s"},
	})
	req := job.ExtractRequest{JobID: uniqueID(t, "job-audit-"), Partition: job.Partition{ID: "p000", Database: "sales"}, Attempt: 1,
		Spec: job.Spec{Version: 1, Connection: "default/x/1", Source: job.Source{Kind: "postgres",
			DSN: "postgres://postgres@" + addr + "/postgres?sslmode=disable", Databases: []string{"sales"},
			Password: &job.SecretRef{Store: "secrets", Key: "pg-password"}, ConnectTimeout: job.Duration(3 * time.Second)}}}
	s.request(t, req)
	done := s.waitDone(t, req.JobID, "p000", 1)
	require.False(t, done.OK)
	require.Contains(t, done.Error, "audit log unavailable")
	require.Contains(t, done.Error, "was not used")
	require.NotContains(t, done.Error, canary)
	require.True(t, done.Retryable, "a writer that comes back lets the partition run: %s", done.Error)
	require.Zero(t, dials.Load(), "the source was dialled although the secret's read was not recorded")
	require.Empty(t, s.events.batchReadies(t, req.JobID, "p000"))
}
