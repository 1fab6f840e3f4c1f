package app

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/job"
)

// RestoreLastSuccess sets secure_agent_last_success_timestamp_seconds from
// the newest jobs (at most limit) after a start, so a restart does not
// hide how long a connection has gone without a successful job — the
// alert on it would otherwise wait for the next success to see anything.
// Until the workflow engine answers it tries again, until ctx ends.
func RestoreLastSuccess(ctx context.Context, index JobIndex, runs RunNotifier, m *Metrics, limit int, log *zap.Logger) {
	if m == nil {
		return
	}
	wait := time.Second
	for {
		n, err := restoreLastSuccess(ctx, index, runs, m, limit)
		if err == nil {
			log.Info("last successful job of each connection read from the job history", zap.Int("jobs_read", n))
			return
		}
		log.Debug("reading the job history for the last successes failed; trying again", zap.Error(err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

func restoreLastSuccess(ctx context.Context, index JobIndex, runs RunNotifier, m *Metrics, limit int) (int, error) {
	ids, err := index.Latest(ctx, limit)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		run, err := runs.Inspect(ctx, id)
		if err != nil {
			return 0, err
		}
		if !run.Found {
			continue
		}
		if st := run.JobStatus(); st.State == job.Succeeded && st.FinishedAt != nil {
			m.succeeded(st.Connection, *st.FinishedAt)
		}
	}
	return len(ids), nil
}
