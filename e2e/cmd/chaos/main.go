// Command chaos is `make chaos`: it runs jobs back to back on the local
// stack with two replicas of every service while it SIGKILLs one random
// process of the stack (any app, sidecar, NATS, placement, scheduler or
// sentry) at a random moment of each job, CHAOS_KILLS times (default 100).
//
// First one undisturbed job sets the reference: its asset set and its
// duration, the window the kills fall in. Then each round submits a job,
// kills its victim, waits for the job to end and for the victim to be back
// and healthy, and prints one line: what was killed, when, the recovery
// time (kill to job end and victim healthy, whichever is later), the job's
// state and whether its asset set is the reference's. The summary counts
// jobs run, jobs whose asset set differs (must be 0), files uploaded twice
// (from the audit log; must be 0), stuck jobs and the longest recovery; the
// exit status is non-zero if any of those is wrong.
//
// Environment: CHAOS_KILLS, CHAOS_SEED (default time-based; printed, so a
// run's choices can be repeated), CHAOS_PORT_BASE (default 14000, below
// the kernel's ephemeral port range), CHAOS_DATA_DIR (default a temporary
// dir, removed after a clean run; kept, with the stack's logs, after a
// failed one).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code, err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

type config struct {
	root     string // checkout: bin/
	kills    int
	seed     uint64
	portBase int
	dataDir  string // "" is a fresh temporary dir
	pgHost   string
	pgPort   int
	pgUser   string
}

func (c config) dsn(db string) string {
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", c.pgUser, c.pgHost, c.pgPort, db)
}

func parseConfig(args []string) (config, error) {
	cfg := config{}
	kills, err := envInt("CHAOS_KILLS", 100)
	if err != nil {
		return cfg, err
	}
	portBase, err := envInt("CHAOS_PORT_BASE", defaultPortBase)
	if err != nil {
		return cfg, err
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("CHAOS_SEED"); v != "" {
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			return cfg, fmt.Errorf("CHAOS_SEED=%q is not a number", v)
		}
	}
	defRoot := os.Getenv("SA_ROOT")
	if defRoot == "" {
		defRoot = "../.."
	}
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.StringVar(&cfg.root, "root", defRoot, "checkout holding bin/ (env SA_ROOT)")
	fs.IntVar(&cfg.kills, "kills", kills, "processes to kill, one per job (env CHAOS_KILLS)")
	fs.Uint64Var(&cfg.seed, "seed", seed, "seed of the victims and moments (env CHAOS_SEED; default time-based)")
	fs.IntVar(&cfg.portBase, "port-base", portBase, "SA_PORT_BASE of the stack (env CHAOS_PORT_BASE)")
	fs.StringVar(&cfg.dataDir, "data-dir", os.Getenv("CHAOS_DATA_DIR"), "the stack's data dir, kept afterwards (env CHAOS_DATA_DIR; default a temporary dir, kept only after a failure)")
	fs.StringVar(&cfg.pgHost, "pg-host", "127.0.0.1", "PostgreSQL host")
	fs.IntVar(&cfg.pgPort, "pg-port", 5432, "PostgreSQL port")
	fs.StringVar(&cfg.pgUser, "pg-user", "postgres", "PostgreSQL user (trust or ~/.pgpass authentication)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if cfg.kills < 0 {
		return cfg, fmt.Errorf("--kills %d: use 0 or more", cfg.kills)
	}
	if cfg.root, err = filepath.Abs(cfg.root); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func envInt(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not a number", name, v)
	}
	return n, nil
}

// run returns the exit status: 0 when every job succeeded with the
// reference's asset set and nothing was uploaded twice.
func run(ctx context.Context, args []string) (int, error) {
	cfg, err := parseConfig(args)
	if err != nil {
		return 2, err
	}
	if _, err := os.Stat(filepath.Join(cfg.root, "bin", "agentctl")); err != nil {
		return 2, fmt.Errorf("bin/agentctl is missing in %s: run `make build` first (make chaos does)", cfg.root)
	}
	fmt.Fprintf(os.Stderr, "chaos: seed %d (CHAOS_SEED=%d repeats this run's victims and moments), %d kills\n", cfg.seed, cfg.seed, cfg.kills)
	if w := ephemeralOverlap(cfg.portBase); w != "" {
		fmt.Fprintln(os.Stderr, "chaos: warning:", w)
	}

	cat := chaosCatalog()
	if err := cat.Ensure(ctx, cfg.dsn, os.Stderr); err != nil {
		return 1, err
	}

	dataDir, temporary := cfg.dataDir, cfg.dataDir == ""
	if temporary {
		if dataDir, err = os.MkdirTemp("", "sa-chaos-"); err != nil {
			return 1, err
		}
	}
	fmt.Fprintf(os.Stderr, "chaos: data dir %s (logs in its logs/)\n", dataDir)
	st, err := startStack(ctx, cfg, dataDir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "chaos: the stack did not start; its data dir and logs are kept in %s\n", dataDir)
		return 1, err
	}

	r := newRunner(cfg, st, cat)
	loopErr := r.loop(st.ctx)
	interrupted := ctx.Err() != nil

	// The audit log is append-only: one export at the end sees every job.
	exportCtx, cancelExport := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	r.sum.uploads, r.sum.auditErr = countUploads(exportCtx, cfg.root, st.s, r.jobIDs())
	r.sum.deadLetters, r.sum.deadLettersErr = r.api.deadLetters(exportCtx)
	cancelExport()

	superErr := st.stop()
	r.sum.superErr = superErr
	r.sum.interrupted = interrupted
	r.sum.loopErr = loopErr
	ok := r.sum.ok()
	r.sum.print(os.Stdout)

	switch {
	case ok && temporary && !interrupted:
		if err := os.RemoveAll(dataDir); err != nil {
			fmt.Fprintf(os.Stderr, "chaos: remove %s: %v\n", dataDir, err)
		}
	default:
		fmt.Fprintf(os.Stdout, "  data dir:             %s (kept: logs in logs/, the audit export in %s)\n", dataDir, auditExportFile)
	}
	switch {
	case interrupted:
		return 130, errors.New("interrupted")
	case !ok:
		return 1, errors.New("the run failed (see the summary)")
	}
	return 0, nil
}
