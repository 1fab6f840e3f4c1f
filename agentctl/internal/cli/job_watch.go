package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/secure-agent/secure-agent/libs/job"
)

// unreachableGrace is how long run --wait tolerates an orchestrator that
// stopped answering (a restart) before giving up.
const unreachableGrace = 30 * time.Second

// errWatchTimeout ends a watch that reached --timeout.
var errWatchTimeout = errors.New("watch timed out")

// watchJob polls the job until it reaches a terminal state, showing
// progress. It returns the last status seen with errInterrupted (ctx
// ended: Ctrl-C), errWatchTimeout, an unreachableError (nothing answered
// for grace) or the API error that stopped it.
func watchJob(ctx context.Context, env *Env, c *orchestrator, id string, poll, timeout, grace time.Duration) (job.Status, error) {
	view := newProgressView(env, id)
	defer view.close()
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var last job.Status
	var down time.Time // when the orchestrator stopped answering
	for {
		st, err := c.status(ctx, id)
		var unreachable *unreachableError
		switch {
		case err == nil:
			last, down = st, time.Time{}
			view.show(st, env.Now())
			if st.State.Terminal() {
				return st, nil
			}
		case errors.Is(err, errInterrupted):
			return last, errInterrupted
		case errors.As(err, &unreachable):
			if down.IsZero() {
				down = env.Now()
				view.note("the orchestrator is not answering; retrying for " + grace.String())
			} else if env.Now().Sub(down) >= grace {
				return last, err
			}
		default:
			return last, fmt.Errorf("watching job %s: %w", id, err)
		}
		select {
		case <-ctx.Done():
			return last, errInterrupted
		case <-deadline:
			return last, errWatchTimeout
		case <-tick.C:
		}
	}
}
