// Command bench is `make bench`: it measures agentctl extract against the
// same catalog queries run by plain psql on large PostgreSQL catalogs, and
// the whole pipeline (submission to manifest) on the same catalogs.
//
// Cases (BENCH_CASES, comma-separated; default a,b):
//
//	a  BENCH_TABLES tables (default 10,000) of 10 columns
//	b  100,000 tables of 50 columns: 5,000,000 table columns
//
// For each it builds (once, then reuses; see e2e/internal/benchcat) a
// database of tables with a primary key, a foreign key to the previous
// table, an index and a comment, plus a view per 10 tables joining two;
// then it times `agentctl extract` and `psql` running the connector's own
// catalog statements (read from services/extractor/connector/postgres), 3
// runs each, interleaved, and prints one JSON line per measurement on
// stdout and a summary on stderr. Targets are reported, never asserted:
// the numbers depend on the machine and its load.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
	"github.com/secure-agent/secure-agent/e2e/internal/benchcat"
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
	// mariadb is the MariaDB client (case c's floor).
	mariadb string
	// e2e adds the end-to-end case: the same catalog through the whole
	// local stack, submission to manifest.
	e2e           bool
	stackPortBase int
	replicas      int
	cases         []string
	// stackLogs, when set, makes the end-to-end stack log at info level and
	// keeps its logs there (one folder per stack), for a timeline of a slow
	// case: when each partition was extracted, published, finalized.
	stackLogs string
}

// benchCase is one catalog the bench measures, with its targets (issue 16).
type benchCase struct {
	name           string
	engine         string // postgres, mariadb
	tables, cols   int
	targetE2ERatio float64
}

// shape is what the reports say of a case's catalog.
type shape struct {
	label                  string // database or database prefix
	tables, columns, views int
}

func casesOf(names []string, tables int) ([]benchCase, error) {
	var out []benchCase
	for _, n := range names {
		switch strings.TrimSpace(n) {
		case "a":
			out = append(out, benchCase{name: "a", engine: "postgres", tables: tables, cols: benchcat.BaseColumns, targetE2ERatio: 1.25})
		case "b":
			out = append(out, benchCase{name: "b", engine: "postgres", tables: 100000, cols: 50, targetE2ERatio: 1.4})
		case "c":
			out = append(out, benchCase{name: "c", engine: "mariadb", tables: tables, cols: benchcat.BaseColumns, targetE2ERatio: 1.25})
		default:
			return nil, fmt.Errorf("BENCH_CASES: unknown case %q; the cases are a (PostgreSQL, BENCH_TABLES tables of 10 columns), b (PostgreSQL, 100,000 tables of 50 columns) and c (MariaDB, BENCH_TABLES tables of 10 columns)", n)
		}
	}
	return out, nil
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
	fs.StringVar(&cfg.mariadb, "mariadb", "mariadb", "mariadb client binary")
	fs.BoolVar(&cfg.e2e, "e2e", os.Getenv("BENCH_E2E") != "0", "also run the catalog through the whole local stack (env BENCH_E2E=0 skips it)")
	fs.IntVar(&cfg.stackPortBase, "stack-port-base", 25000, "SA_PORT_BASE of the stack the end-to-end case starts")
	fs.StringVar(&cfg.stackLogs, "stack-logs", os.Getenv("BENCH_STACK_LOGS"), "keep the end-to-end stacks' logs, at info level, in this folder (env BENCH_STACK_LOGS; default: warn level, deleted)")
	defReplicas := 1
	if v := os.Getenv("BENCH_REPLICAS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("BENCH_REPLICAS=%q: use 1 or 2", v)
		}
		defReplicas = n
	}
	fs.IntVar(&cfg.replicas, "replicas", defReplicas, "with 2, the end-to-end case runs again on two replicas of every service and compares (env BENCH_REPLICAS)")
	defCases := "a,b,c"
	if v := os.Getenv("BENCH_CASES"); v != "" {
		defCases = v
	}
	var caseList string
	fs.StringVar(&caseList, "cases", defCases, "cases to run, comma-separated (env BENCH_CASES): a = PostgreSQL, BENCH_TABLES tables of 10 columns; b = PostgreSQL, 100,000 tables of 50 columns; c = MariaDB, BENCH_TABLES tables of 10 columns")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.cases = strings.Split(caseList, ",")
	if cfg.tables < 10 {
		return fmt.Errorf("--tables %d: use at least 10 (there is one view per 10 tables)", cfg.tables)
	}
	if cfg.replicas < 1 || cfg.replicas > stack.MaxReplicas {
		return fmt.Errorf("--replicas %d (BENCH_REPLICAS): use 1 to %d", cfg.replicas, stack.MaxReplicas)
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

	cases, err := casesOf(cfg.cases, cfg.tables)
	if err != nil {
		return err
	}
	for _, bc := range cases {
		if err := runCase(ctx, cfg, bc, agentctl, queries); err != nil {
			return fmt.Errorf("case %s: %w", bc.name, err)
		}
	}
	return nil
}

func runCase(ctx context.Context, cfg config, bc benchCase, agentctl string, queries connectorSQL) error {
	fmt.Fprintf(os.Stderr, "\nbench: case %s: %s, %d tables of %d columns\n", bc.name, bc.engine, bc.tables, bc.cols)
	tmp, err := os.MkdirTemp("", "sa-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var (
		sd   side
		sh   shape
		spec string
	)
	switch bc.engine {
	case "postgres":
		cat := benchcat.NewPostgres(bc.tables, bc.cols)
		if err := cat.Ensure(ctx, cfg.dsn, os.Stderr); err != nil {
			return err
		}
		if sd, err = postgresSide(ctx, cfg, cat, queries, tmp); err != nil {
			return err
		}
		sh = shape{label: "database " + cat.DB, tables: cat.Tables, columns: cat.Columns, views: cat.Views}
		spec = fmt.Sprintf("version: 1\nname: bench\nconnection: default/postgres/bench\nsource:\n  kind: postgres\n  dsn: %s\n  databases: [%s]\n",
			cfg.dsn(cat.DB), cat.DB)
	case "mariadb":
		cat := benchcat.NewMariaDB(bc.tables)
		if err := cat.Ensure(ctx, mariaAdminDSN, os.Stderr); err != nil {
			return err
		}
		var n int
		if sd, n, err = mariadbSide(ctx, cfg, agentctl, cat, tmp); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: the mariadb floor replays the %d statements an extraction sent (MariaDB's general log)\n", n)
		sh = shape{label: "MariaDB databases " + cat.Prefix + "_s*", tables: cat.Tables, columns: benchcat.BaseColumns, views: cat.Views}
		spec = fmt.Sprintf("version: 1\nname: bench\nconnection: default/mysql/bench\nsource:\n  kind: mysql\n  dsn: '%s'\n  databases: [%s]\n",
			mariaDSN, strings.Join(cat.Schemas(), ", "))
	}
	res, err := measure(ctx, cfg, agentctl, tmp, sd)
	if err != nil {
		return err
	}
	if err := report(os.Stdout, os.Stderr, bc, sh, sd.floorName, res); err != nil {
		return err
	}
	if !cfg.e2e {
		return nil
	}
	e2e, err := measurePipeline(ctx, cfg, spec, pipelineRun{name: "case-" + bc.name, incremental: true})
	if err != nil {
		return fmt.Errorf("end-to-end case: %w", err)
	}
	if err := reportPipeline(os.Stdout, os.Stderr, bc, sh, sd.floorName, res, e2e); err != nil {
		return err
	}
	if cfg.replicas < 2 {
		return nil
	}
	two := map[string]int{}
	for _, app := range stack.Apps {
		two[app] = cfg.replicas
	}
	scaled, err := measurePipeline(ctx, cfg, spec, pipelineRun{name: fmt.Sprintf("case-%s-replicas-%d", bc.name, cfg.replicas), replicas: two})
	if err != nil {
		return fmt.Errorf("end-to-end case with %d replicas of each service: %w", cfg.replicas, err)
	}
	return reportReplicas(os.Stdout, os.Stderr, bc, sh, cfg.replicas, e2e, scaled)
}

func (c config) dsn(db string) string {
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", c.user, c.host, c.port, db)
}
