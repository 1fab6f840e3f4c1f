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

// errClaimLost ends a publish or finalize whose claim another replica
// took over.
var errClaimLost = errors.New("another publisher replica took the work over")

func claimKey(jobID, partition string) string { return "publish-claim/" + jobID + "/" + partition }

// finalizeClaimKey is the claim on a job's finalize.
func finalizeClaimKey(jobID string) string { return "finalize-claim/" + jobID }

// heldClaim is this replica's claim on one piece of a job (a partition's
// publish, the job's finalize): while it holds it no other replica does
// that work. Two deliveries reach two replicas when the broker redelivers
// an event whose subscriber was slow or died, or when the workflow sends
// an activity again after its sidecar died; the claim makes the second
// wait.
type heldClaim struct {
	l *lease.Lease
	// resumed: an earlier attempt held the claim (the key outlives every
	// attempt but a successful one), so it may have uploaded files.
	resumed bool
	lost    atomic.Bool // another replica took it over
	ctx     context.Context
	stop    context.CancelFunc
	stopped sync.WaitGroup
}

// partitionClaim is the claim on one partition's publish.
type partitionClaim struct {
	*heldClaim
	ended atomic.Bool // the job was cancelled or finalized (seen by any replica)
}

// takeClaim takes the claim key for this replica. While another replica
// holds it, it waits, up to twice the TTL: the holder finishes (finished
// answers true: done is returned), or dies and its claim is taken over
// after the TTL. A claim still held after the wait is an errkind.Transient
// error: the event (or activity) comes again later. what names the work
// in errors ("partition p001").
func (s *Service) takeClaim(ctx context.Context, key, what string, finished func(context.Context) (bool, error), log *zap.Logger) (c *heldClaim, done bool, err error) {
	l := lease.New(s.claims, key, s.instance, s.claimTTL)
	deadline := time.Now().Add(2 * s.claimTTL)
	waited, resumed := false, false
	for {
		st, err := l.TryAcquire(ctx)
		if err != nil {
			return nil, false, errkind.Wrap(errkind.Transient, err, "claim "+what)
		}
		if st.Acquired {
			resumed = st.Term > 1
			if st.TakenOver {
				log.Info("took over work whose publisher replica stopped renewing its claim", zap.String("work", what), zap.Int64("term", st.Term))
			}
			break
		}
		if !waited {
			log.Info("another publisher replica holds the work; waiting for it", zap.String("work", what), zap.String("holder", st.Holder))
			waited = true
		}
		if ok, err := finished(ctx); err != nil || ok {
			return nil, ok, err
		}
		if time.Now().After(deadline) {
			return nil, false, errkind.Errorf(errkind.Transient, "%s is being handled by publisher replica %s (claim renewed within its TTL %s): it is tried again later",
				what, st.Holder, s.claimTTL)
		}
		select {
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-time.After(s.claimTTL / 5):
		}
	}
	// Someone may have finished just before we took the claim (their
	// claim released after their record was saved).
	if ok, err := finished(ctx); err != nil || ok {
		_ = l.Release(context.WithoutCancel(ctx), true)
		return nil, ok, err
	}
	kctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c = &heldClaim{l: l, ctx: kctx, stop: cancel, resumed: resumed}
	c.stopped.Add(1)
	go func() {
		defer c.stopped.Done()
		l.Keep(kctx, func(err error) {
			log.Warn("the claim was lost; this replica stops its work", zap.String("work", what), zap.Error(err))
			c.lost.Store(true)
		})
	}()
	return c, false, nil
}

// claimPartition takes the claim on ev's partition (takeClaim): a
// partition another replica published meanwhile is answered as published.
func (s *Service) claimPartition(ctx context.Context, ev job.PartitionDone, log *zap.Logger) (*partitionClaim, *PublishRecord, error) {
	var rec PublishRecord
	hc, done, err := s.takeClaim(ctx, claimKey(ev.JobID, ev.Partition), "partition "+ev.Partition, func(ctx context.Context) (bool, error) {
		r, ok, err := s.publishRecord(ctx, ev.JobID, ev.Partition)
		rec = r
		return ok, err
	}, log)
	if err != nil {
		return nil, nil, err
	}
	if done {
		return nil, &rec, nil
	}
	c := &partitionClaim{heldClaim: hc}
	// A cancel or finalize handled by another replica reaches this one
	// through the job's record.
	c.stopped.Add(1)
	go func() {
		defer c.stopped.Done()
		t := time.NewTicker(s.claimTTL / 5)
		defer t.Stop()
		for {
			select {
			case <-c.ctx.Done():
				return
			case <-t.C:
			}
			if _, done, err := s.jobRecord(c.ctx, ev.JobID); err == nil && done {
				c.ended.Store(true)
				return
			}
		}
	}()
	return c, nil, nil
}

// release ends the claim, so a later redelivery (or another replica) need
// not wait for the TTL: the key is deleted once the work is recorded
// (done), else kept free, its term (and data) telling the next attempt to
// resume.
func (c *heldClaim) release(ctx context.Context, done bool, log *zap.Logger) {
	c.stop()
	c.stopped.Wait()
	if c.lost.Load() {
		return
	}
	if err := c.l.Release(context.WithoutCancel(ctx), done); err != nil {
		log.Warn("releasing the claim failed; it expires after its TTL", zap.Error(err))
	}
}
