package app

import (
	"context"
	"encoding/json"
	"time"

	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/logging"
)

// A job's workflow can exist and never run. The engine starts a new
// instance through a reminder; when that reminder fires before the
// instance's state is saved (`make chaos` saw it 0.1 s after a submission,
// with a sentry kill at that moment), the sidecar logs "No workflow state
// found for actor ..., terminating execution", the reminder is spent, and
// the saved instance stays pending with nothing left to run it: the job
// never starts, and submitting it again only finds it.
//
// An event raised on such an instance runs it: the engine adds the event
// to the instance's inbox, which still holds its start, and sets a new
// reminder. So a job whose workflow is still pending WakeAfter after it
// was created is sent EventWake, which the workflow ignores; a workflow
// that merely waits for its worker runs once as it would have.

// DefaultWakeAfter is how long a workflow may stay pending before it is
// woken. A healthy engine runs a new instance within milliseconds.
const DefaultWakeAfter = 20 * time.Second

// wakeTries bounds the waking after a start: waits of WakeAfter, 2× and 4×
// it (by default 20, 60 and 140 s after the start).
const wakeTries = 3

// watchStart wakes the workflow of job id if it is still pending
// WakeAfter after its start, and again later, up to wakeTries times; it
// stops once the workflow has left pending (or is gone).
func (j *Jobs) watchStart(id string) {
	go func() {
		wait := j.wakeAfter
		for range wakeTries {
			select {
			case <-j.ctx.Done():
				return
			case <-time.After(wait):
			}
			run, err := j.runner.Inspect(j.ctx, id)
			if err != nil {
				wait *= 2
				continue
			}
			if !run.Found || run.State != RunPending {
				return
			}
			j.wakeIfStuck(j.ctx, id, run)
			wait *= 2
		}
	}()
}

// wakeIfStuck sends EventWake to a workflow that has been pending for
// WakeAfter, at most once per WakeAfter per job.
func (j *Jobs) wakeIfStuck(ctx context.Context, id string, run Run) {
	if run.State != RunPending {
		return
	}
	now := j.now()
	since := pendingSince(run)
	if since.IsZero() || now.Sub(since) < j.wakeAfter {
		return
	}
	j.wakeMu.Lock()
	if last, ok := j.woken[id]; ok && now.Sub(last) < j.wakeAfter {
		j.wakeMu.Unlock()
		return
	}
	for k, at := range j.woken {
		if now.Sub(at) > 10*j.wakeAfter {
			delete(j.woken, k)
		}
	}
	j.woken[id] = now
	j.wakeMu.Unlock()
	log := logging.WithTrace(ctx, j.log).With(zap.String("job_id", id))
	if err := j.runner.Notify(ctx, id, WakeEvent()); err != nil {
		log.Warn("the job's workflow is still pending and could not be woken; trying again later",
			zap.Duration("pending_for", now.Sub(since).Round(time.Second)), zap.Error(err))
		return
	}
	j.metrics.eventRaised(EventWake)
	log.Warn("the job's workflow was still pending: woken (its start reminder was lost)",
		zap.Duration("pending_for", now.Sub(since).Round(time.Second)))
}

// pendingSince is when a pending workflow was created: its last update
// (a pending instance was never updated after its creation), else the
// submission time in its input.
func pendingSince(run Run) time.Time {
	if !run.UpdatedAt.IsZero() {
		return run.UpdatedAt
	}
	var in WorkflowInput
	if json.Unmarshal([]byte(run.Input), &in) == nil {
		return in.SubmittedAt
	}
	return time.Time{}
}
