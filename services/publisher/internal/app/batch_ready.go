package app

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
)

// VerifyBatch checks one staged file when its BatchReady arrives and
// records the outcome, so partition-done need not fetch it again. A
// missing or different object is recorded, not retried: partition-done
// checks again and decides. Batches of cancelled or finalized jobs, and of
// partitions already published, are acknowledged and ignored. The check is
// the span "publisher verify batch".
func (s *Service) VerifyBatch(ctx context.Context, b job.BatchReady) (err error) {
	if err := validateBatch(b); err != nil {
		return err
	}
	ctx, span, log := s.step(ctx, "verify batch", s.jobLog(ctx, b.JobID, zap.String("partition", b.Partition),
		zap.String("run", b.Run), zap.String("kind", string(b.Kind)), zap.Int("seq", b.Seq)),
		append(jobAttrs(b.JobID, b.Partition, b.Run), attrKind.String(string(b.Kind)), attrBytes.Int64(b.Bytes))...)
	defer func() { endStep(span, err) }()
	if rec, done, err := s.jobRecord(ctx, b.JobID); err != nil {
		return err
	} else if done {
		// Staged after the job's staging was cleaned (an extraction still
		// running at cancel, a redelivered request): delete it now.
		log.Debug("batch of a finished job deleted", zap.String("job_state", string(rec.State)))
		s.ignore(job.TopicBatchReady, "job_"+string(rec.State))
		span.SetAttributes(attrResult.String("job_" + string(rec.State)))
		s.deleteStaged(ctx, log, b.Key)
		return nil
	}
	if _, published, err := s.publishRecord(ctx, b.JobID, b.Partition); err != nil {
		return err
	} else if published {
		log.Debug("batch of a published partition ignored")
		s.ignore(job.TopicBatchReady, "partition_published")
		span.SetAttributes(attrResult.String("partition_published"))
		return nil
	}
	// A broker that delivers in parallel (Redis; JetStream with
	// concurrency: parallel, ADR 0019) may hand over many batches at once:
	// each check holds its staged file in memory, so they take a slot.
	release, err := takeSlot(ctx, s.checks, "a slot to check staged file "+b.Key)
	if err != nil {
		return err
	}
	c, err := s.checkStaged(ctx, b)
	release()
	if err != nil {
		return fmt.Errorf("verify staged file %s: %w", b.Key, err)
	}
	rec := BatchRecord{SHA256: b.SHA256, ActualSHA256: c.actual, Rows: b.Rows, Verified: c.problem == "", Error: c.problem, CheckedAt: s.now().UTC()}
	if err := s.records.Save(ctx, batchKey(b), rec); err != nil {
		return fmt.Errorf("record the check of staged file %s: %w", b.Key, err)
	}
	if c.problem == "" {
		s.backlog.add(b)
	}
	s.m.batches.WithLabelValues(c.result()).Inc()
	span.SetAttributes(attrResult.String(c.result()))
	if c.problem != "" {
		log.Warn("staged batch does not match its announcement", zap.String("problem", c.problem))
	} else {
		log.Debug("staged batch verified", zap.String("key", b.Key))
	}
	return nil
}

// takeSlot takes one of slots (a semaphore of its capacity), or answers a
// Transient error naming what it waited for when the delivery ends first;
// release gives the slot back.
func takeSlot(ctx context.Context, slots chan struct{}, what string) (release func(), err error) {
	select {
	case slots <- struct{}{}:
		return func() { <-slots }, nil
	case <-ctx.Done():
		return nil, errkind.Wrap(errkind.Transient, ctx.Err(), "wait for "+what)
	}
}
