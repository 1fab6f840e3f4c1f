package main

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/secure-agent/secure-agent/libs/job"
)

// kill is one round: a job, and one process SIGKILLed while it runs.
type kill struct {
	n      int
	victim string
	jobID  string
	at     time.Duration // from the job's submission to the kill
	// endedBeforeKill: the job had ended when the kill landed.
	endedBeforeKill bool
	state           job.State
	jobErrors       []string
	stuck           bool
	killed          bool          // the SIGKILL was sent
	victimBack      bool          // started again and healthy
	recovered       bool          // victim back and job ended: recovery is known
	recovery        time.Duration // kill to job end and victim healthy
	diff            string        // how the asset set differs; "" if identical
	retried         int           // partitions that ran more than once
	problems        []string      // what else went wrong
	interrupted     bool
}

// killRound submits a job, SIGKILLs a random process at a random moment
// of the undisturbed job's duration, and waits for the job to end and the
// victim to be back and healthy.
func (r *runner) killRound(ctx context.Context, n int) kill {
	vs := victims(r.s)
	k := kill{n: n, victim: vs[r.rng.IntN(len(vs))]}
	// A fraction of the window, so a repeated seed kills at the same point
	// of the job even if the undisturbed job took another time.
	delay := time.Duration(r.rng.Float64() * float64(r.window))

	submitted := time.Now()
	id, err := r.api.submit(ctx, r.spec(fmt.Sprintf("chaos-%03d", n)), r.key(n))
	if err != nil {
		k.interrupted = ctx.Err() != nil
		k.state = job.Failed
		k.problems = append(k.problems, err.Error())
		return k
	}
	k.jobID = id
	select {
	case <-ctx.Done():
		k.interrupted = true
		return k
	case <-time.After(time.Until(submitted.Add(delay))):
	}

	pid := r.s.Pids()[k.victim]
	killedAt := time.Now()
	k.at = killedAt.Sub(submitted)
	if pid == 0 {
		k.problems = append(k.problems, "no process "+k.victim)
	} else if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		k.problems = append(k.problems, fmt.Sprintf("kill %s (pid %d): %v", k.victim, pid, err))
	} else {
		k.killed = true
	}
	type back struct {
		at  time.Time
		err error
	}
	backCh := make(chan back, 1)
	go func() {
		at, err := waitBack(ctx, r.s, k.victim, pid, victimBackBound)
		backCh <- back{at, err}
	}()

	st, stuck, err := r.api.wait(ctx, id, r.jobBound())
	b := <-backCh
	if err != nil || ctx.Err() != nil {
		k.interrupted = true
		return k
	}
	k.state, k.jobErrors, k.stuck = st.State, st.Errors, stuck
	for _, p := range st.Partitions {
		if p.Attempts > 1 {
			k.retried++
		}
	}
	k.victimBack = b.err == nil
	if b.err != nil {
		k.problems = append(k.problems, b.err.Error())
	}
	if stuck {
		k.problems = append(k.problems, fmt.Sprintf("job did not end within %s of the kill (state %s, phase %s)", r.jobBound().Round(time.Second), st.State, st.Phase))
		if err := r.api.cancelJob(ctx, id); err != nil {
			k.problems = append(k.problems, err.Error())
		}
		return k
	}
	ended := time.Now()
	if st.FinishedAt != nil {
		ended = *st.FinishedAt
	}
	k.endedBeforeKill = ended.Before(killedAt)
	if k.victimBack {
		k.recovered = true
		k.recovery = b.at.Sub(killedAt)
		if ended.After(b.at) {
			k.recovery = ended.Sub(killedAt)
		}
	}
	if st.State == job.Succeeded {
		got, err := assets(r.s, id)
		if err != nil {
			k.diff = "output unreadable: " + err.Error()
		} else {
			k.diff = assetDiff(r.ref, got)
		}
	}
	return k
}
