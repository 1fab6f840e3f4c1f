package app

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/lease"
)

// DefaultClaimTTL is how long a publisher replica may go without renewing
// its claim on a partition before another replica may take the partition
// over (it renews every TTL/5 while it publishes).
const DefaultClaimTTL = 15 * time.Second

// errClaimLost ends a publish whose claim another replica took over.
var errClaimLost = errors.New("another publisher replica took the partition over")

func claimKey(jobID, partition string) string { return "publish-claim/" + jobID + "/" + partition }

// partitionClaim is this replica's claim on one partition's publish: while
// it holds it no other replica uploads the partition. Two deliveries of a
// partition-done reach two replicas when the broker redelivers an event
// whose subscriber was slow or died; the claim makes the second wait.
type partitionClaim struct {
	l *lease.Lease
	// resumed: an earlier attempt held the claim (the key outlives every
	// attempt but a successful one), so it may have uploaded files.
	resumed bool
	lost    atomic.Bool // another replica took it over
	ended   atomic.Bool // the job was cancelled or finalized (seen by any replica)
	stop    context.CancelFunc
	stopped sync.WaitGroup
}

// claimPartition takes the claim on ev's partition. While another replica
// holds it, it waits, up to twice the TTL: the holder finishes (the
// partition's record appears: published is returned), or dies and its
// claim is taken over after the TTL. A claim still held after the wait is
// an errkind.Transient error: the event is redelivered later.
func (s *Service) claimPartition(ctx context.Context, ev job.PartitionDone, log *zap.Logger) (c *partitionClaim, published *PublishRecord, err error) {
	l := lease.New(s.claims, claimKey(ev.JobID, ev.Partition), s.instance, s.claimTTL)
	deadline := time.Now().Add(2 * s.claimTTL)
	waited, resumed := false, false
	for {
		st, err := l.TryAcquire(ctx)
		if err != nil {
			return nil, nil, errkind.Wrap(errkind.Transient, err, "claim partition "+ev.Partition)
		}
		if st.Acquired {
			resumed = st.Term > 1
			if st.TakenOver {
				log.Info("took over a partition whose publisher replica stopped renewing its claim", zap.Int64("term", st.Term))
			}
			break
		}
		if !waited {
			log.Info("another publisher replica is publishing the partition; waiting for it", zap.String("holder", st.Holder))
			waited = true
		}
		if rec, ok, err := s.publishRecord(ctx, ev.JobID, ev.Partition); err != nil {
			return nil, nil, err
		} else if ok {
			return nil, &rec, nil
		}
		if time.Now().After(deadline) {
			return nil, nil, errkind.Errorf(errkind.Transient, "partition %s is being published by publisher replica %s (claim renewed within its TTL %s): the event is redelivered",
				ev.Partition, st.Holder, s.claimTTL)
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(s.claimTTL / 5):
		}
	}
	// Someone may have finished the partition just before we took the
	// claim (their claim released after their record was saved).
	if rec, ok, err := s.publishRecord(ctx, ev.JobID, ev.Partition); err != nil || ok {
		_ = l.Release(context.WithoutCancel(ctx), true)
		if err != nil {
			return nil, nil, err
		}
		return nil, &rec, nil
	}
	kctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c = &partitionClaim{l: l, stop: cancel, resumed: resumed}
	c.stopped.Add(2)
	go func() {
		defer c.stopped.Done()
		l.Keep(kctx, func(err error) {
			log.Warn("the claim on the partition was lost; this replica stops publishing it", zap.Error(err))
			c.lost.Store(true)
		})
	}()
	// A cancel or finalize handled by another replica reaches this one
	// through the job's record.
	go func() {
		defer c.stopped.Done()
		t := time.NewTicker(s.claimTTL / 5)
		defer t.Stop()
		for {
			select {
			case <-kctx.Done():
				return
			case <-t.C:
			}
			if _, done, err := s.jobRecord(kctx, ev.JobID); err == nil && done {
				c.ended.Store(true)
				return
			}
		}
	}()
	return c, nil, nil
}

// release ends the claim, so a later redelivery (or another replica) need
// not wait for the TTL: the key is deleted once the partition is recorded
// (done), else kept free, its term telling the next attempt to resume.
func (c *partitionClaim) release(ctx context.Context, done bool, log *zap.Logger) {
	c.stop()
	c.stopped.Wait()
	if c.lost.Load() {
		return
	}
	if err := c.l.Release(context.WithoutCancel(ctx), done); err != nil {
		log.Warn("releasing the claim on the partition failed; it expires after its TTL", zap.Error(err))
	}
}
