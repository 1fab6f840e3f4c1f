package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/e2e/internal/benchcat"
)

// memoryTables is the catalog the memory regression test reads.
const memoryTables = 50000

// Limits of agentctl extract on memoryTables tables: the Go memory limit
// it runs under and the peak RSS it must stay within. On PostgreSQL the
// extraction measured 95–99 MiB here, 84 MiB on 10,000 tables (ADR 0016);
// memory that grew with the catalog (lookups held per table, garbage paced
// by the zstd encoders' reservations: 180 MiB before) crosses the limit.
// SQLite keeps the file's parsed schema in its own memory (65 MiB for
// 50,000 tables, with every column and index) and sorts in it: 241 MiB
// measured, so its limit is higher; the Go side is the same.
const (
	memoryLimitPostgres = 160 << 20
	memoryLimitSQLite   = 320 << 20
)

// The extraction's memory does not grow with the catalog: agentctl extract
// reads a generated 50,000-table catalog (55,000 with the views) under a Go
// memory limit and must finish with its peak RSS inside it, on PostgreSQL
// (the bench catalog, built once per server and reused) and on SQLite (a
// generated file, built once per machine in ~/.cache/secure-agent/bench).
func TestExtractionMemoryStaysFlat(t *testing.T) {
	t.Parallel()
	r := root(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	t.Cleanup(cancel) // after the parallel subtests

	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		cat := benchcat.NewPostgres(memoryTables, benchcat.BaseColumns)
		var progress bytes.Buffer
		require.NoError(t, cat.Ensure(ctx, pgDSN, &progress), progress.String())
		t.Log(strings.TrimSpace(progress.String()))
		sum := extractUnderLimit(ctx, t, r, memoryLimitPostgres, "--source", "postgres", "--dsn", pgDSN(cat.DB), "--database", cat.DB)
		var total int64
		for _, n := range sum.Counts {
			total += n
		}
		require.EqualValues(t, cat.Assets(), total, "%v", sum.Counts)
	})
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		dir, err := benchcat.CacheDir()
		require.NoError(t, err)
		var progress bytes.Buffer
		path, err := benchcat.CachedSQLite(ctx, dir, memoryTables, &progress)
		require.NoError(t, err)
		t.Log(strings.TrimSpace(progress.String()))
		sum := extractUnderLimit(ctx, t, r, memoryLimitSQLite, "--source", "sqlite", "--dsn", path)
		require.EqualValues(t, memoryTables+memoryTables/10, sum.Counts["table"])
		require.EqualValues(t, memoryTables*benchcat.BaseColumns+memoryTables/10*5, sum.Counts["column"])
	})
}

// pgDSN names a database on the test server.
func pgDSN(db string) string {
	return "postgres://postgres@127.0.0.1:5432/" + db + "?sslmode=disable"
}

// extractSummary is the part of agentctl extract's JSON line the test reads.
type extractSummary struct {
	Counts       map[string]int64 `json:"counts"`
	ElapsedMS    int64            `json:"elapsed_ms"`
	PeakRSSBytes int64            `json:"peak_rss_bytes"`
	Queries      int              `json:"queries"`
}

// extractUnderLimit runs agentctl extract with GOMEMLIMIT=limit and fails
// the test if it fails or its peak RSS (VmHWM, as agentctl reports it)
// exceeds the limit.
func extractUnderLimit(ctx context.Context, t *testing.T, root string, limit int, args ...string) extractSummary {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	cmd := exec.CommandContext(ctx, filepath.Join(root, "bin", "agentctl"), append([]string{"extract", "--out", out}, args...)...)
	cmd.Env = append(os.Environ(), "GOMEMLIMIT="+strconv.Itoa(limit))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "agentctl extract: %s", stderr.String())
	var sum extractSummary
	require.NoError(t, json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &sum), stdout.String())
	// agentctl's own high-water mark (VmHWM): the kernel's ru_maxrss of a
	// child started by this large test process would be this process's
	// size at the child's exec (agentctl's peakRSS says why).
	peak := sum.PeakRSSBytes
	require.Positive(t, peak)
	t.Logf("agentctl extract %s: %d ms, peak RSS %.1f MiB (limit %d MiB), %d statements, %v",
		args[1], sum.ElapsedMS, float64(peak)/(1<<20), limit>>20, sum.Queries, sum.Counts)
	require.LessOrEqual(t, peak, int64(limit), "peak RSS %.1f MiB exceeds the %d MiB limit: memory grows with the catalog", float64(peak)/(1<<20), limit>>20)
	return sum
}
