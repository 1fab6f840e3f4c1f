package app

import (
	"context"
	"fmt"

	"github.com/dapr/durabletask-go/workflow"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/logging"
)

// SlotInput names a job and its connection.
type SlotInput struct {
	JobID      string `json:"job_id"`
	Connection string `json:"connection"`
}

// SlotResult says whether the job holds a slot.
type SlotResult struct {
	Acquired bool `json:"acquired"`
}

// maxCASAttempts bounds how often a slot update is retried after losing a
// race with another job's update.
const maxCASAttempts = 20

func (a *Activities) AcquireSlot(ctx workflow.ActivityContext) (any, error) {
	var in SlotInput
	if err := ctx.GetInput(&in); err != nil {
		return nil, fmt.Errorf("read slot input: %w", err)
	}
	ok, err := a.acquire(ctx.Context(), in)
	if err != nil {
		return nil, err
	}
	return SlotResult{Acquired: ok}, nil
}

func (a *Activities) acquire(ctx context.Context, in SlotInput) (bool, error) {
	for range maxCASAttempts {
		s, etag, err := a.slots.Load(ctx, in.Connection)
		if err != nil {
			return false, fmt.Errorf("read the slots of connection %s: %w", in.Connection, err)
		}
		if s.Holds(in.JobID) {
			return true, nil
		}
		changed := false
		if len(s.Holders) >= a.limit {
			s, changed = a.evictFinished(ctx, s, in.JobID)
		}
		full := len(s.Holders) >= a.limit
		if !full {
			s = s.With(in.JobID)
		}
		if full && !changed {
			return false, nil
		}
		err = a.slots.Save(ctx, in.Connection, s, etag)
		if errkind.Of(err) == errkind.Conflict {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("save the slots of connection %s: %w", in.Connection, err)
		}
		if !full {
			logging.WithTrace(ctx, a.log).Info("slot acquired", zap.String("job_id", in.JobID), zap.String("connection", in.Connection))
		}
		return !full, nil
	}
	return false, errkind.New(errkind.Transient, "the slots of connection "+in.Connection+" changed too often to update; retrying later")
}

// evictFinished drops holders whose workflow ended or is gone: a job that
// died without releasing (terminated, failed in the engine) must not keep
// its slot forever.
func (a *Activities) evictFinished(ctx context.Context, s Slots, self string) (Slots, bool) {
	changed := false
	for _, h := range s.Holders {
		if h == self {
			continue
		}
		run, err := a.runs.Inspect(ctx, h)
		if err != nil || (run.Found && !run.Finished()) {
			continue
		}
		logging.WithTrace(ctx, a.log).Warn("evicting the slot of a job that ended without releasing it", zap.String("job_id", h))
		s = s.Without(h)
		changed = true
	}
	return s, changed
}

func (a *Activities) ReleaseSlot(ctx workflow.ActivityContext) (any, error) {
	var in SlotInput
	if err := ctx.GetInput(&in); err != nil {
		return nil, fmt.Errorf("read slot input: %w", err)
	}
	return nil, a.release(ctx.Context(), in)
}

func (a *Activities) release(ctx context.Context, in SlotInput) error {
	for range maxCASAttempts {
		s, etag, err := a.slots.Load(ctx, in.Connection)
		if err != nil {
			return fmt.Errorf("read the slots of connection %s: %w", in.Connection, err)
		}
		if !s.Holds(in.JobID) {
			return nil
		}
		err = a.slots.Save(ctx, in.Connection, s.Without(in.JobID), etag)
		if errkind.Of(err) == errkind.Conflict {
			continue
		}
		if err != nil {
			return fmt.Errorf("save the slots of connection %s: %w", in.Connection, err)
		}
		logging.WithTrace(ctx, a.log).Info("slot released", zap.String("job_id", in.JobID), zap.String("connection", in.Connection))
		return nil
	}
	return errkind.New(errkind.Transient, "the slots of connection "+in.Connection+" changed too often to update; retrying later")
}
