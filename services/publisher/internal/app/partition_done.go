package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/changeset"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// errStopped ends a publish whose job was cancelled meanwhile.
var errStopped = errors.New("the job was cancelled")

// PublishPartition finishes a successful extraction run of a partition:
// it verifies exactly the run's files, compacts them per kind into upload
// files, uploads those to every destination, records the partition and
// answers PublishDone. The first run to complete wins: a partition already
// published only sends its PublishDone again. A staged file that is
// missing or differs from its announcement uploads nothing and answers
// PublishDone{ok:false}, and so does a destination the publisher cannot
// use or one that refuses a file for good (not configured, unauthorized,
// unknown job). Failed runs are the orchestrator's business.
func (s *Service) PublishPartition(ctx context.Context, ev job.PartitionDone) error {
	if !ev.OK {
		s.ignore(job.TopicPartitionDone, "run_failed")
		s.backlog.runFailed(ev.JobID, ev.Partition, ev.Run)
		return nil
	}
	if err := validatePartitionDone(ev); err != nil {
		return err
	}
	log := s.jobLog(ctx, ev.JobID, zap.String("partition", ev.Partition), zap.String("run", ev.Run))
	unlock := s.parts.Lock(ev.JobID + "/" + ev.Partition)
	defer unlock()
	// A slot after the partition's lock: a second delivery of the same
	// partition waits for the first without taking one.
	release, err := takeSlot(ctx, s.slots, "a publishing slot for partition "+ev.Partition)
	if err != nil {
		return err
	}
	defer release()
	stopped, leave := s.jobs.Shared(ev.JobID)
	defer leave()
	if stopped() {
		log.Info("partition of a cancelled job ignored; its staged files are deleted")
		s.ignore(job.TopicPartitionDone, "job_cancelled")
		s.backlog.partitionEnded(ev.JobID, ev.Partition)
		s.deleteStaged(ctx, log, runKeys(ev)...)
		return nil
	}
	if rec, done, err := s.jobRecord(ctx, ev.JobID); err != nil {
		return err
	} else if done {
		log.Info("partition of a finished job ignored; its staged files are deleted", zap.String("job_state", string(rec.State)))
		s.ignore(job.TopicPartitionDone, "job_"+string(rec.State))
		s.backlog.partitionEnded(ev.JobID, ev.Partition)
		s.deleteStaged(ctx, log, runKeys(ev)...)
		return nil
	}
	if rec, ok, err := s.publishRecord(ctx, ev.JobID, ev.Partition); err != nil {
		return err
	} else if ok {
		log.Info("partition already published; its publish-done is sent again", zap.String("published_run", rec.Run))
		s.backlog.partitionEnded(ev.JobID, ev.Partition)
		return s.publish(ctx, rec.publishDone(ev.JobID, ev.Partition))
	}

	claim, published, err := s.claimPartition(ctx, ev, log)
	if err != nil {
		return err
	}
	if published != nil {
		log.Info("partition published by another publisher replica; its publish-done is sent again", zap.String("published_run", published.Run))
		s.backlog.partitionEnded(ev.JobID, ev.Partition)
		return s.publish(ctx, published.publishDone(ev.JobID, ev.Partition))
	}
	recorded := false
	defer func() { claim.release(ctx, recorded, log) }()
	jobStopped := stopped
	stopped = func() bool { return jobStopped() || claim.ended.Load() || claim.lost.Load() }

	start := time.Now()
	dests := destinations(ev.Destinations)
	opened, err := s.openDestinations(dests)
	if errkind.Of(err) == errkind.Invalid {
		return s.fail(ctx, log, ev, start, []string{err.Error()}, false)
	}
	if err != nil {
		return err
	}
	problems, err := s.verifyRun(ctx, ev, log)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return s.fail(ctx, log, ev, start, problems, false)
	}
	var cmp *comparison
	if ev.Connection != "" {
		base, baseIdx, err := s.jobBase(ctx, ev.JobID, ev.Connection, ev.Mode, log)
		if err != nil {
			return err
		}
		cmp = &comparison{ctx: ctx, incremental: base.Mode == model.ModeIncremental && baseIdx != nil, spillAt: s.digestSpill,
			loadBase: func(first changeset.Entry) (*changeset.DigestSet, error) {
				return s.partitionBase(ctx, ev, *baseIdx, first)
			},
			stage: func(ctx context.Context, entries []changeset.Entry, n int) (changeset.RunRef, error) {
				return s.stageDigests(ctx, ev, entries, n)
			}}
	}
	files, rows, problems, err := s.compact(ctx, ev, opened, cmp, stopped, claim.resumed, log)
	var refused *uploadError
	switch {
	case errors.Is(err, errStopped) && claim.lost.Load():
		return errkind.Wrap(errkind.Transient, errClaimLost, "publish partition "+ev.Partition)
	case errors.Is(err, errStopped):
		log.Info("publish of the partition stopped: the job was cancelled")
		s.ignore(job.TopicPartitionDone, "job_cancelled")
		s.backlog.partitionEnded(ev.JobID, ev.Partition)
		return nil
	case errors.As(err, &refused) && errkind.PubSubStatus(err) == errkind.Drop:
		// Redelivery would be refused the same way: the job fails now
		// with the reason rather than when the partition times out.
		return s.fail(ctx, log, ev, start, []string{err.Error()}, len(files) > 0)
	case err != nil:
		return err
	}
	if len(problems) > 0 {
		return s.fail(ctx, log, ev, start, problems, len(files) > 0)
	}
	rec := PublishRecord{
		Run: ev.Run, Database: ev.Database, Schemas: ev.Schemas, Range: ev.Range, Destinations: dests,
		Files: files, Rows: rows, PublishedAt: s.now().UTC(),
	}
	if cmp != nil {
		if rec.Digests, err = cmp.digests(); err != nil {
			return err
		}
		// verifyRun checked the run's rows against its files.
		rec.Extracted = maps.Clone(ev.Rows)
	}
	if !claim.l.Held() {
		// Another replica may be publishing it now: it records the partition.
		return errkind.Wrap(errkind.Transient, errClaimLost, "record partition "+ev.Partition)
	}
	if err := s.records.Save(ctx, publishKey(ev.JobID, ev.Partition), rec); err != nil {
		return fmt.Errorf("record published partition %s of job %s: %w", ev.Partition, ev.JobID, err)
	}
	recorded = true
	s.m.partitions.WithLabelValues(resultPublished).Inc()
	s.m.duration.WithLabelValues(resultPublished).Observe(time.Since(start).Seconds())
	s.m.batchesPublished.Add(float64(len(ev.Files)))
	s.backlog.partitionEnded(ev.JobID, ev.Partition)
	log.Info("partition published", zap.Int("files", len(files)), zap.Int64("rows", sum(rows)), zap.Int("destinations", len(dests)))
	return s.publish(ctx, rec.publishDone(ev.JobID, ev.Partition))
}

// verifyRun checks every file of the run before anything is uploaded: a
// file verified when its batch event arrived (same announced sha256) is
// not fetched again. It also checks the run's row counts add up. It is the
// span "publisher verify run".
func (s *Service) verifyRun(ctx context.Context, ev job.PartitionDone, log *zap.Logger) (problems []string, err error) {
	ctx, span, _ := s.step(ctx, "verify run", log, append(jobAttrs(ev.JobID, ev.Partition, ev.Run), attrFiles.Int(len(ev.Files)))...)
	defer func() {
		if err == nil && len(problems) > 0 {
			span.SetStatus(codes.Error, fmt.Sprintf("%d problem(s) with the run's files", len(problems)))
		}
		endStep(span, err)
	}()
	filesRows := map[model.Kind]int64{}
	for _, f := range ev.Files {
		filesRows[f.Kind] += f.Rows
		var rec BatchRecord
		ok, err := s.records.Get(ctx, batchKey(f), &rec)
		if err != nil {
			return nil, fmt.Errorf("read the check of staged file %s: %w", f.Key, err)
		}
		if ok && rec.Verified && rec.SHA256 == f.SHA256 {
			continue
		}
		c, err := s.checkStaged(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("verify staged file %s: %w", f.Key, err)
		}
		s.m.batches.WithLabelValues(c.result()).Inc()
		if c.problem != "" {
			problems = append(problems, c.problem)
		}
	}
	if ev.Rows != nil {
		kinds := slices.Sorted(maps.Keys(ev.Rows))
		for k := range filesRows {
			if _, ok := ev.Rows[k]; !ok {
				kinds = append(kinds, k)
			}
		}
		for _, k := range kinds {
			if ev.Rows[k] != filesRows[k] {
				problems = append(problems, fmt.Sprintf("the run reports %d %s rows but its files hold %d", ev.Rows[k], k, filesRows[k]))
			}
		}
	}
	return problems, nil
}

// fail answers PublishDone{ok:false} with what is wrong and what to do.
func (s *Service) fail(ctx context.Context, log *zap.Logger, ev job.PartitionDone, start time.Time, problems []string, uploaded bool) error {
	outcome := "nothing of the partition was uploaded"
	if uploaded {
		outcome = "the partition is not recorded and no manifest will list the files already uploaded for it"
	}
	msg := fmt.Sprintf("partition %s run %s cannot be published: %s; %s: re-run the job",
		ev.Partition, ev.Run, strings.Join(problems, "; "), outcome)
	s.m.partitions.WithLabelValues(resultFailed).Inc()
	s.m.duration.WithLabelValues(resultFailed).Observe(time.Since(start).Seconds())
	s.backlog.partitionEnded(ev.JobID, ev.Partition)
	log.Warn("partition not published", zap.String("reason", msg))
	return s.publish(ctx, job.PublishDone{JobID: ev.JobID, Partition: ev.Partition, Run: ev.Run, OK: false, Error: msg})
}

func (s *Service) publish(ctx context.Context, done job.PublishDone) error {
	if err := s.events.Publish(ctx, job.TopicPublishDone, done); err != nil {
		return fmt.Errorf("send publish-done of job %s partition %s: %w", done.JobID, done.Partition, err)
	}
	return nil
}

func sum(rows map[model.Kind]int64) int64 {
	var n int64
	for _, v := range rows {
		n += v
	}
	return n
}

// stageDigests stages sorted digests of a partition run as its n-th run,
// for finalize to compare the whole job with the catalog state.
func (s *Service) stageDigests(ctx context.Context, ev job.PartitionDone, entries []changeset.Entry, n int) (changeset.RunRef, error) {
	w := changeset.NewRunWriter(s.staging, fmt.Sprintf("%s%03d-", digestsPrefix(ev.JobID, ev.Partition, ev.Run), n),
		changeset.Meta{Connection: ev.Connection, JobID: ev.JobID, CreatedAt: s.now().UTC()})
	for _, e := range entries {
		if err := w.Add(ctx, e); err != nil {
			return changeset.RunRef{}, fmt.Errorf("digests of partition %s: %w", ev.Partition, err)
		}
	}
	ref, err := w.Close(ctx)
	if err != nil {
		return changeset.RunRef{}, fmt.Errorf("stage the digests of partition %s: %w", ev.Partition, err)
	}
	return ref, nil
}
