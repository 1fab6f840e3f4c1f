package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
	"github.com/secure-agent/secure-agent/e2e/internal/benchcat"
	"github.com/secure-agent/secure-agent/libs/job"
)

// The catalog: 12 schemas of 40 tables and public, one partition each with
// tables_per_partition 40, four at a time: a job runs for several seconds
// with work in flight on both extractors and both publishers.
const (
	catalogDB       = "sa_chaos"
	catalogSchemas  = 12
	catalogTables   = 40
	connection      = "default/postgres/chaos"
	prodAckWait     = 60 * time.Second // the stack's default
	restartBudget   = 30 * time.Second
	referenceBound  = 10 * time.Minute
	victimBackBound = 3 * time.Minute
	settleBound     = 2 * time.Minute
)

func chaosCatalog() benchcat.Schemas {
	return benchcat.NewSchemas(catalogDB, catalogSchemas, catalogTables)
}

// runner runs the undisturbed job, then one job per kill.
type runner struct {
	cfg   config
	s     *stack.Stack
	api   jobAPI
	rng   *rand.Rand
	dsn   string
	nonce int64 // makes this run's idempotency keys its own
	// ref and window are the undisturbed job's asset set and duration.
	ref    []string
	window time.Duration
	sum    summary
}

func newRunner(cfg config, st *supervisedStack, cat benchcat.Schemas) *runner {
	return &runner{
		cfg: cfg, s: st.s, api: newJobAPI(st.s),
		rng:   rand.New(rand.NewPCG(cfg.seed, 0x63686173)), // "chas"
		dsn:   cfg.dsn(cat.DB),
		nonce: time.Now().UnixNano(),
		sum:   summary{seed: cfg.seed, planned: cfg.kills, started: time.Now()},
	}
}

// spec is a full run of the catalog: each job's output is the whole asset
// set, comparable with the reference's.
func (r *runner) spec(name string) string {
	return strings.Join([]string{
		"version: 1",
		"name: " + name,
		"connection: " + connection,
		"mode: full",
		"source:",
		"  kind: postgres",
		"  dsn: " + r.dsn,
		"  databases: [" + catalogDB + "]",
		"partitioning:",
		"  tables_per_partition: 40",
		"  max_parallel: 4",
	}, "\n") + "\n"
}

func (r *runner) key(n int) string { return fmt.Sprintf("chaos-%d-%03d", r.nonce, n) }

// jobBound is how long a job with a kill may take from the kill: the ack
// wait (a lost message comes back), a restart, the job twice over and two
// minutes of slack.
func (r *runner) jobBound() time.Duration {
	return prodAckWait + restartBudget + 2*r.window + 2*time.Minute
}

// loop runs the reference job and the kills; it returns early, without an
// error, when ctx ends (Ctrl-C, or the supervisor gave up).
func (r *runner) loop(ctx context.Context) error {
	if err := r.reference(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	for n := 1; n <= r.cfg.kills; n++ {
		if ctx.Err() != nil {
			return nil
		}
		if err := settle(ctx, r.s, settleBound); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.sum.unsettled++
			fmt.Fprintf(os.Stdout, "kill %d/%d  not started: %v\n", n, r.cfg.kills, err)
			continue
		}
		k := r.killRound(ctx, n)
		if k.interrupted {
			fmt.Fprintf(os.Stdout, "%s  (interrupted)\n", k.line(r.cfg.kills))
			return nil
		}
		r.sum.add(k)
		fmt.Fprintln(os.Stdout, k.line(r.cfg.kills))
	}
	return nil
}

// reference runs the undisturbed job.
func (r *runner) reference(ctx context.Context) error {
	if err := settle(ctx, r.s, settleBound); err != nil {
		return err
	}
	start := time.Now()
	id, err := r.api.submit(ctx, r.spec("chaos-undisturbed"), r.key(0))
	if err != nil {
		return fmt.Errorf("the undisturbed job: %w", err)
	}
	r.sum.referenceID = id
	r.sum.jobs++
	st, stuck, err := r.api.wait(ctx, id, referenceBound)
	if err != nil {
		return err
	}
	r.window = time.Since(start)
	switch {
	case stuck:
		r.sum.stuck++
		return fmt.Errorf("the undisturbed job %s did not end within %s (state %s, phase %s)", id, referenceBound, st.State, st.Phase)
	case st.State != job.Succeeded:
		r.sum.failed++
		return fmt.Errorf("the undisturbed job %s %s: %v", id, st.State, st.Errors)
	}
	if r.ref, err = assets(r.s, id); err != nil {
		r.sum.failed++
		return fmt.Errorf("the undisturbed job %s's output: %w", id, err)
	}
	r.sum.succeeded++
	r.sum.succeededIDs = append(r.sum.succeededIDs, id)
	fmt.Fprintf(os.Stdout, "undisturbed job %s: %d partitions, %d assets in %s; kills fall within its first %s, each job's bound is %s from the kill\n",
		id, len(st.Partitions), len(r.ref), r.window.Round(100*time.Millisecond), r.window.Round(100*time.Millisecond), r.jobBound().Round(time.Second))
	return nil
}

// jobIDs are every job this run submitted.
func (r *runner) jobIDs() []string {
	var ids []string
	if r.sum.referenceID != "" {
		ids = append(ids, r.sum.referenceID)
	}
	for _, k := range r.sum.kills {
		if k.jobID != "" {
			ids = append(ids, k.jobID)
		}
	}
	return ids
}
