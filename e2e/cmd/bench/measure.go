package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/secure-agent/secure-agent/e2e/internal/benchcat"
)

// extractSummary is agentctl extract's JSON line.
type extractSummary struct {
	Counts       map[string]int64 `json:"counts"`
	Files        int              `json:"files"`
	Bytes        int64            `json:"bytes"`
	ElapsedMS    int64            `json:"elapsed_ms"`
	PeakRSSBytes int64            `json:"peak_rss_bytes"`
	Queries      int              `json:"queries"`
}

type results struct {
	agentctl, floor []time.Duration // floor: the engine's own client (psql, mariadb)
	last            extractSummary
	peakRSS         int64 // highest agentctl reported
	peakRSSOS       int64 // highest the kernel reported for the child (cross-check)
}

// side is what a case measures: agentctl extract's source arguments, and
// the floor, the same catalog statements run by the engine's own client.
type side struct {
	extractArgs []string // --source, --dsn, --database ...
	floorName   string   // psql, mariadb
	floor       func(ctx context.Context) (time.Duration, error)
}

// postgresSide runs psql on the connector's statements (queries.go).
func postgresSide(ctx context.Context, cfg config, cat benchcat.Postgres, queries connectorSQL, tmp string) (side, error) {
	after, err := viewChunkKeys(ctx, cfg, cat.DB, queries)
	if err != nil {
		return side{}, err
	}
	script, err := psqlScript(queries, after, cat.DB)
	if err != nil {
		return side{}, err
	}
	scriptPath := filepath.Join(tmp, "catalog.sql")
	if err := os.WriteFile(scriptPath, []byte(script), 0o600); err != nil {
		return side{}, err
	}
	dsn := cfg.dsn(cat.DB)
	return side{
		extractArgs: []string{"--source", "postgres", "--dsn", dsn, "--database", cat.DB},
		floorName:   "psql",
		floor:       func(ctx context.Context) (time.Duration, error) { return runPsql(ctx, cfg.psql, dsn, scriptPath) },
	}, nil
}

// measure runs one untimed warm-up of each side (so neither pays for a
// cold cache), then cfg.runs timed runs of each, interleaved so that load
// from other processes on the machine hits both sides alike.
func measure(ctx context.Context, cfg config, agentctl, tmp string, sd side) (results, error) {
	var res results
	for i := 0; i <= cfg.runs; i++ {
		warm := i == 0
		label := fmt.Sprintf("run %d/%d", i, cfg.runs)
		if warm {
			label = "warm-up"
		}
		out := filepath.Join(tmp, fmt.Sprintf("out-%d", i))
		d, sum, rssOS, err := runAgentctl(ctx, agentctl, sd.extractArgs, out)
		if err != nil {
			return res, err
		}
		if err := os.RemoveAll(out); err != nil {
			return res, err
		}
		p, err := sd.floor(ctx)
		if err != nil {
			return res, err
		}
		fmt.Fprintf(os.Stderr, "bench: %s: agentctl %s (peak RSS %.1f MiB), %s %s\n", label,
			d.Round(time.Millisecond), mib(sum.PeakRSSBytes), sd.floorName, p.Round(time.Millisecond))
		if warm {
			continue
		}
		res.agentctl = append(res.agentctl, d)
		res.floor = append(res.floor, p)
		res.last = sum
		res.peakRSS = max(res.peakRSS, sum.PeakRSSBytes)
		res.peakRSSOS = max(res.peakRSSOS, rssOS)
	}
	return res, nil
}

// runAgentctl times one extraction (process start to exit, as a user sees
// it) and returns its summary line and the kernel's peak RSS for it.
func runAgentctl(ctx context.Context, bin string, args []string, out string) (time.Duration, extractSummary, int64, error) {
	var sum extractSummary
	cmd := exec.CommandContext(ctx, bin, append(append([]string{"extract"}, args...), "--out", out)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, sum, 0, fmt.Errorf("agentctl extract: %w\n%s", err, tail(stderr.String()))
	}
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &sum); err != nil {
		return 0, sum, 0, fmt.Errorf("agentctl extract printed %q, not one JSON summary line: %w", tail(stdout.String()), err)
	}
	return d, sum, childMaxRSS(cmd), nil
}

func runPsql(ctx context.Context, bin, dsn, script string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, bin, "-X", "-q", "-At", "-d", dsn, "-f", script, "-o", os.DevNull)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil || stderr.Len() > 0 {
		return 0, fmt.Errorf("psql: %v\n%s", err, tail(stderr.String()))
	}
	return d, nil
}

// childMaxRSS is the kernel's ru_maxrss of a finished child: the larger
// of its own peak and this process's RSS when the child exec'd (Linux
// carries the pre-exec memory's high-water mark over), which is fine as a
// cross-check from a process as small as the bench; agentctl's own figure
// (VmHWM) is the one reported.
func childMaxRSS(cmd *exec.Cmd) int64 {
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss * 1024 // KiB on Linux
	}
	return 0
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// tail keeps the end of a command's output for an error message.
func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}

// viewChunkKeys are the keys the connector's view definition chunks start
// after: the schema and name of every chunk-th view of db in the
// connector's order, but the last view. System schemas are left out with
// the connector's own condition.
func viewChunkKeys(ctx context.Context, cfg config, db string, sql connectorSQL) ([][2]string, error) {
	chunk := sql.chunk
	conn, err := pgx.Connect(ctx, cfg.dsn(db))
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('v', 'm') AND `+sql.userSchema+`
		ORDER BY n.nspname, c.relname`)
	if err != nil {
		return nil, fmt.Errorf("list the views of %s: %w", db, err)
	}
	defer rows.Close()
	var keys [][2]string
	views := 0
	for i := 1; rows.Next(); i++ {
		views = i
		var k [2]string
		if err := rows.Scan(&k[0], &k[1]); err != nil {
			return nil, err
		}
		if i%chunk == 0 {
			keys = append(keys, k)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// A key on the last view would start a chunk after it: the connector
	// reads ceil(views/chunk) chunks (at least one).
	if views > 0 && views%chunk == 0 {
		keys = keys[:len(keys)-1]
	}
	return keys, nil
}
