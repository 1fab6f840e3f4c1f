package app

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
)

// Cancel stops a job: publishes in flight give up at their next file,
// nothing more is uploaded, finalize refuses, and the job's staging is
// deleted. Cancelling a cancelled job cleans its staging again; a
// finalized job cannot be cancelled (its manifest is written).
func (s *Service) Cancel(ctx context.Context, id string) error {
	if err := ValidateJobID(id); err != nil {
		return err
	}
	leave := s.jobs.Exclusive(id, true)
	defer leave()
	log := s.jobLog(ctx, id)
	rec, done, err := s.jobRecord(ctx, id)
	if err != nil {
		return err
	}
	if done && rec.State == JobFinalized {
		return errkind.New(errkind.Conflict, fmt.Sprintf("job %s is already finalized: its manifest is written and cannot be withdrawn", id))
	}
	if !done {
		if err := s.records.Save(ctx, jobKey(id), JobRecord{State: JobCancelled, At: s.now().UTC()}); err != nil {
			return fmt.Errorf("record job %s cancelled: %w", id, err)
		}
		log.Info("job cancelled: nothing more is uploaded for it")
	}
	s.backlog.jobEnded(id)
	s.cleanStaging(ctx, id, log)
	return nil
}

// cleanStaging deletes the job's staged files (every run, announced or
// not): the span "publisher clean staging". Failures are logged, not
// returned: the job's outcome does not depend on them, and the next cancel
// or an operator can clean up.
func (s *Service) cleanStaging(ctx context.Context, id string, log *zap.Logger) {
	ctx, span, log := s.step(ctx, "clean staging", log, attrJobID.String(id))
	defer span.End()
	prefix := job.StagingPrefix(id)
	keys, err := s.staging.List(ctx, prefix)
	if err != nil {
		log.Warn("staged files of the job not deleted: listing them failed; delete the folder by hand",
			zap.String("staging_prefix", prefix), zap.Error(err))
		return
	}
	failed := 0
	for _, k := range keys {
		if err := s.staging.Delete(ctx, k); err != nil {
			failed++
			log.Warn("staged file not deleted", zap.String("key", k), zap.Error(err))
		}
	}
	log.Info("staged files of the job deleted", zap.Int("deleted", len(keys)-failed), zap.Int("failed", failed))
}

// deleteStaged deletes staged files of a job that has ended. Failures are
// logged: the staging sweep removes what is left.
func (s *Service) deleteStaged(ctx context.Context, log *zap.Logger, keys ...string) {
	for _, k := range keys {
		if err := s.staging.Delete(ctx, k); err != nil {
			log.Warn("staged file of an ended job not deleted", zap.String("key", k), zap.Error(err))
		}
	}
}

// runKeys are the staged files a run announced.
func runKeys(ev job.PartitionDone) []string {
	keys := make([]string, 0, len(ev.Files))
	for _, f := range ev.Files {
		keys = append(keys, f.Key)
	}
	return keys
}
