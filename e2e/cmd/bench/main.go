// Command bench is `make bench`: it measures agentctl extract against the
// same catalog queries run by plain psql on a large PostgreSQL catalog.
//
// It builds (once, then reuses) a database sa_bench_<N> with N tables of 10
// columns, each with a primary key, a foreign key to the previous table, an
// index and a comment, plus N/10 views joining two tables; then it times
// `agentctl extract` and `psql` running the connector's own catalog
// statements (read from services/extractor/connector/postgres), 3 runs each,
// interleaved, and prints one JSON line per case on stdout and a summary on
// stderr. Targets are reported, never asserted: the numbers depend on the
// machine and its load.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type config struct {
	root   string // checkout: bin/agentctl and the connector's sources
	tables int
	runs   int
	host   string
	port   int
	user   string
	psql   string
	// e2e adds the end-to-end case: the same catalog through the whole
	// local stack, submission to manifest.
	e2e           bool
	stackPortBase int
}

func run(ctx context.Context, args []string) error {
	cfg := config{}
	defTables := 10000
	if v := os.Getenv("BENCH_TABLES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("BENCH_TABLES=%q is not a number of tables", v)
		}
		defTables = n
	}
	defRoot := os.Getenv("SA_ROOT")
	if defRoot == "" {
		defRoot = "../.."
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&cfg.root, "root", defRoot, "checkout holding bin/agentctl (env SA_ROOT)")
	fs.IntVar(&cfg.tables, "tables", defTables, "tables in the catalog (env BENCH_TABLES); views are a tenth of that")
	fs.IntVar(&cfg.runs, "runs", 3, "timed runs of each side; the median is reported")
	fs.StringVar(&cfg.host, "host", "127.0.0.1", "PostgreSQL host")
	fs.IntVar(&cfg.port, "port", 5432, "PostgreSQL port")
	fs.StringVar(&cfg.user, "user", "postgres", "PostgreSQL user (trust or ~/.pgpass authentication)")
	fs.StringVar(&cfg.psql, "psql", "psql", "psql binary")
	fs.BoolVar(&cfg.e2e, "e2e", os.Getenv("BENCH_E2E") != "0", "also run the catalog through the whole local stack (env BENCH_E2E=0 skips it)")
	fs.IntVar(&cfg.stackPortBase, "stack-port-base", 25000, "SA_PORT_BASE of the stack the end-to-end case starts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.tables < 10 {
		return fmt.Errorf("--tables %d: use at least 10 (there is one view per 10 tables)", cfg.tables)
	}
	if cfg.runs < 1 {
		return fmt.Errorf("--runs %d: use at least 1", cfg.runs)
	}
	root, err := filepath.Abs(cfg.root)
	if err != nil {
		return err
	}
	cfg.root = root
	agentctl := filepath.Join(root, "bin", "agentctl")
	if _, err := os.Stat(agentctl); err != nil {
		return fmt.Errorf("%s is missing: run `make build` first (make bench does)", agentctl)
	}
	queries, err := connectorQueries(filepath.Join(root, "services", "extractor", "connector", "postgres"))
	if err != nil {
		return err
	}

	cat := catalog{tables: cfg.tables, views: cfg.tables / 10}
	cat.db = fmt.Sprintf("sa_bench_%d", cfg.tables)
	if err := cat.ensure(ctx, cfg); err != nil {
		return err
	}
	res, err := measure(ctx, cfg, agentctl, cat, queries)
	if err != nil {
		return err
	}
	if err := report(os.Stdout, os.Stderr, cat, res); err != nil {
		return err
	}
	if !cfg.e2e {
		return nil
	}
	e2e, err := measurePipeline(ctx, cfg, cat)
	if err != nil {
		return fmt.Errorf("end-to-end case: %w", err)
	}
	return reportPipeline(os.Stdout, os.Stderr, cat, res, e2e)
}

func (c config) dsn(db string) string {
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", c.user, c.host, c.port, db)
}
