package app

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/logging"
)

// SweepStaging deletes what is left in staging of jobs that have ended:
// files of an extraction run that was killed after its job was cancelled,
// failed or finalized, which no event will ever announce. Live jobs are
// left alone. It answers how many files it deleted.
func (s *Service) SweepStaging(ctx context.Context) (int, error) {
	keys, err := s.staging.List(ctx, "jobs")
	if err != nil {
		return 0, err
	}
	byJob := map[string][]string{}
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, "jobs/")
		if !ok {
			continue
		}
		id, _, _ := strings.Cut(rest, "/")
		byJob[id] = append(byJob[id], k)
	}
	deleted := 0
	for id, files := range byJob {
		if ValidateJobID(id) != nil {
			continue
		}
		rec, done, err := s.jobRecord(ctx, id)
		if err != nil || !done {
			continue
		}
		log := s.jobLog(ctx, id, zap.String("job_state", string(rec.State)))
		s.deleteStaged(ctx, log, files...)
		deleted += len(files)
		log.Info("staged files left by an ended job deleted", zap.Int("files", len(files)))
	}
	n, err := s.sweepPlans(ctx)
	return deleted + n, err
}

// planRetention is how long a dry run's plan is kept.
const planRetention = 7 * 24 * time.Hour

// sweepPlans deletes the plans of dry runs that ended planRetention ago.
func (s *Service) sweepPlans(ctx context.Context) (int, error) {
	keys, err := s.staging.List(ctx, "plans")
	if err != nil {
		return 0, err
	}
	deleted := 0
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, "plans/")
		id, json := strings.CutSuffix(rest, ".json")
		if !ok || !json || ValidateJobID(id) != nil {
			continue
		}
		rec, done, err := s.jobRecord(ctx, id)
		if err != nil || !done || s.now().Sub(rec.At) < planRetention {
			continue
		}
		s.deleteStaged(ctx, s.jobLog(ctx, id), k)
		deleted++
	}
	return deleted, nil
}

// RunStagingSweep sweeps staging now and then every interval until ctx
// ends, each sweep the root span of its own trace.
func (s *Service) RunStagingSweep(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.sweepOnce(ctx, interval)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) sweepOnce(ctx context.Context, interval time.Duration) {
	ctx, span := s.tracer.Start(ctx, "publisher staging sweep", trace.WithNewRoot())
	n, err := s.SweepStaging(ctx)
	span.SetAttributes(attribute.Int("secure_agent.files_deleted", n))
	if err != nil && ctx.Err() == nil {
		logging.WithTrace(ctx, s.log).Warn("staging sweep failed; it runs again later", zap.Duration("interval", interval), zap.Error(err))
	}
	endStep(span, err)
}
