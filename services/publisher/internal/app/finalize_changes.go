package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/apache/arrow/go/v17/arrow"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/changeset"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// tombstonePartition names the upload files of a job's tombstones.
const tombstonePartition = "deletions"

// jobChanges is a job compared with its connection's catalog state.
type jobChanges struct {
	connection string
	base       JobBase
	snap       *changeset.Snapshot
	seen       []changeset.Entry // every asset the run saw, sorted
	res        changeset.Result
}

// baseJob is the job whose state the run compares with ("" for none).
func (c *jobChanges) baseJob() string {
	if c.base.State == nil {
		return ""
	}
	return c.base.State.JobID
}

// compareJob compares every partition's digests with the job's base. It
// answers nil for a job without a connection (nothing to compare with).
func (s *Service) compareJob(ctx context.Context, id string, req job.FinalizeRequest, parts map[string]PublishRecord, log *zap.Logger) (*jobChanges, error) {
	conn := req.Spec.Connection
	if conn == "" {
		return nil, nil
	}
	base, err := s.pinBase(ctx, id, conn, req.Spec.Mode, log)
	if err != nil {
		return nil, err
	}
	c := &jobChanges{connection: conn, base: base}
	if _, _, err := s.checkBaseCurrent(ctx, id, c); err != nil {
		return nil, err
	}
	if c.snap, err = s.baseSnapshot(ctx, id, conn, base); err != nil {
		return nil, err
	}
	var seen []changeset.Entry
	var incomplete []string
	for _, pid := range slices.Sorted(maps.Keys(parts)) {
		d := parts[pid].Digests
		if d == nil {
			incomplete = append(incomplete, pid)
			continue
		}
		data, err := s.staging.Get(ctx, d.Key)
		if err != nil {
			return nil, fmt.Errorf("read the digests of partition %s: %w", pid, err)
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != d.SHA256 {
			return nil, errkind.New(errkind.Invalid, fmt.Sprintf("the digests of partition %s (%s) have sha256 %s, not %s: "+
				"staging was altered; run the job again", pid, d.Key, got, d.SHA256))
		}
		part, err := changeset.DecodeSnapshot(data)
		if err != nil {
			return nil, fmt.Errorf("the digests of partition %s: %w", pid, err)
		}
		seen = append(seen, part.Entries()...)
	}
	scope := changeset.Scope{Connection: conn}
	if req.Listing != nil {
		scope.Listing = *req.Listing
	}
	if scope.Filters, err = req.Spec.Filters.Compile(); err != nil {
		return nil, errkind.Wrap(errkind.Invalid, err, "finalize request filters")
	}
	opts := changeset.Options{MaxDeletionShare: req.Spec.MaxDeletionShare}
	if opts.MaxDeletionShare == 0 {
		opts.MaxDeletionShare = s.maxDeletionShare
	}
	if len(incomplete) > 0 {
		opts.Incomplete = fmt.Sprintf("partition(s) %v were published without digests", incomplete)
	}
	c.res, err = changeset.Finish(c.snap, seen, scope, opts, changeset.Meta{Connection: conn, JobID: id, CreatedAt: s.now().UTC()})
	if err != nil {
		return nil, fmt.Errorf("compare job %s with its connection's catalog state: %w", id, err)
	}
	c.seen = seen
	return c, nil
}

// uploadTombstones writes the job's tombstones as upload files to every
// destination, like a partition's files, and returns them.
func (s *Service) uploadTombstones(ctx context.Context, id string, req job.FinalizeRequest, c *jobChanges, dests []openDest, log *zap.Logger) ([]model.FileInfo, error) {
	if len(c.res.Tombstones) == 0 {
		return nil, nil
	}
	ev := job.PartitionDone{JobID: id, Partition: tombstonePartition}
	var files []model.FileInfo
	u := newUploadWriter(tombstonePartition, model.KindTombstone, s.target, func(info model.FileInfo, data []byte) error {
		for _, d := range dests {
			if err := s.uploadFile(ctx, ev, d, info, data, log); err != nil {
				return err
			}
		}
		files = append(files, info)
		return nil
	})
	w, err := model.NewWriter(writerSink{u}, model.WriterOptions{JobID: id, ExtractedAt: req.StartedAt})
	if err != nil {
		return nil, err
	}
	for _, t := range c.res.Tombstones {
		if err := w.Tombstone(model.Tombstone{QualifiedName: t.QualifiedName, AssetKind: t.Kind, Reason: t.Reason,
			ParentQualifiedName: changeset.ParentOf(c.connection, t.Kind, t.QualifiedName)}); err != nil {
			_ = w.Close()
			u.Discard()
			return nil, fmt.Errorf("tombstone of %s: %w", t.QualifiedName, err)
		}
	}
	if err := w.Close(); err != nil {
		u.Discard()
		return nil, fmt.Errorf("tombstones of job %s: %w", id, err)
	}
	if err := u.Close(); err != nil {
		return nil, err
	}
	return files, nil
}

// writerSink feeds a model.Writer's batches to an upload writer.
type writerSink struct{ u *uploadWriter }

func (w writerSink) WriteRecord(_ model.Kind, rec arrow.Record) error { return w.u.Write(rec) }

// checkBaseCurrent refuses to finish a run when another run of the
// connection replaced the state the run compared with: its change set is
// against an older catalog.
func (s *Service) checkBaseCurrent(ctx context.Context, id string, c *jobChanges) (etag string, cur *CatalogState, err error) {
	var st CatalogState
	etag, found, err := s.versioned.Load(ctx, catalogStateKey(c.connection), &st)
	if err != nil {
		return "", nil, fmt.Errorf("read the catalog state of connection %s: %w", c.connection, err)
	}
	if !found {
		return "", nil, nil
	}
	if st.JobID != id && st.JobID != c.base.Replaces {
		return "", nil, errkind.New(errkind.Conflict, fmt.Sprintf("job %s of connection %s finished while job %s ran: this job's changes "+
			"are against an older catalog state; run the job again", st.JobID, c.connection, id))
	}
	return etag, &st, nil
}

// commitState keeps the job's catalog state as the connection's current
// one: the snapshot file in staging, then the pointer, replaced only if
// it still names the state the job compared with. A repeated finalize
// finds the pointer already naming the job.
func (s *Service) commitState(ctx context.Context, id string, c *jobChanges, log *zap.Logger) error {
	etag, cur, err := s.checkBaseCurrent(ctx, id, c)
	if err != nil {
		return err
	}
	if cur != nil && cur.JobID == id {
		return nil
	}
	data, err := c.res.Next.Encode()
	if err != nil {
		return fmt.Errorf("encode the catalog state of job %s: %w", id, err)
	}
	key := snapshotKey(c.connection, id)
	if err := s.staging.Put(ctx, key, data); err != nil {
		return fmt.Errorf("store the catalog state of job %s in staging: %w", id, err)
	}
	sum := sha256.Sum256(data)
	st := CatalogState{JobID: id, Key: key, SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(data)),
		Entries: c.res.Next.Len(), At: s.now().UTC()}
	if err := s.versioned.Save(ctx, catalogStateKey(c.connection), st, etag); err != nil {
		if errkind.Of(err) == errkind.Conflict {
			return errkind.Wrap(errkind.Conflict, err, fmt.Sprintf("another run of connection %s replaced its catalog state "+
				"while job %s finished; run the job again", c.connection, id))
		}
		return fmt.Errorf("replace the catalog state of connection %s: %w", c.connection, err)
	}
	s.snapshots.put(st.SHA256, c.res.Next)
	if cur != nil && cur.Key != key {
		if err := s.staging.Delete(ctx, cur.Key); err != nil {
			log.Warn("the previous catalog state was not deleted from staging", zap.String("key", cur.Key), zap.Error(err))
		}
	}
	log.Info("catalog state replaced", zap.String("connection", c.connection), zap.Int("entries", st.Entries),
		zap.Int64("bytes", st.Bytes), zap.String("previous_job", c.baseJob()))
	return nil
}

// countChanges adds a finished run's changes to the metrics.
func (s *Service) countChanges(c *jobChanges) {
	for k, n := range c.res.Counts {
		for change, v := range map[string]int64{"created": n.Created, "updated": n.Updated, "unchanged": n.Unchanged,
			"deleted": n.Deleted, "withheld": n.Withheld} {
			s.m.catalogChanges.WithLabelValues(string(k), change).Add(float64(v))
		}
	}
	for _, fs := range c.res.FailSafes {
		s.m.failSafes.WithLabelValues(fs.Name).Inc()
	}
}

// warnings are what the run tells its user: the fail-safes and the base's
// warning.
func (c *jobChanges) warnings() []string {
	var out []string
	if c.base.Warning != "" {
		out = append(out, c.base.Warning)
	}
	for _, fs := range c.res.FailSafes {
		out = append(out, "fail-safe "+fs.Name+": "+fs.Message)
	}
	return out
}

// planKey is where a dry run's plan is kept in staging.
func planKey(jobID string) string { return "plans/" + jobID + ".json" }

// plan is the dry run's change set, item by item.
func (c *jobChanges) plan(id string) job.Plan {
	p := job.Plan{JobID: id, Connection: c.connection, Mode: c.base.Mode, Base: c.baseJob(), Changes: c.res.Counts,
		FailSafes: c.res.FailSafes, Warnings: c.warnings(), Items: []job.PlanItem{}}
	for _, e := range c.seen {
		switch op, attrs := c.snap.Classify(e); op {
		case changeset.Created:
			p.Items = append(p.Items, job.PlanItem{Op: string(op), Kind: e.Kind, QualifiedName: e.QualifiedName})
		case changeset.Updated:
			p.Items = append(p.Items, job.PlanItem{Op: string(op), Kind: e.Kind, QualifiedName: e.QualifiedName, Attributes: attrs})
		}
	}
	for _, t := range c.res.Tombstones {
		p.Items = append(p.Items, job.PlanItem{Op: string(changeset.Deleted), Kind: t.Kind, QualifiedName: t.QualifiedName, Reason: t.Reason})
	}
	slices.SortFunc(p.Items, func(a, b job.PlanItem) int {
		return changeset.Compare(changeset.Entry{Kind: a.Kind, QualifiedName: a.QualifiedName},
			changeset.Entry{Kind: b.Kind, QualifiedName: b.QualifiedName})
	})
	return p
}

// storePlan keeps a dry run's plan in staging.
func (s *Service) storePlan(ctx context.Context, p job.Plan) error {
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode the plan of job %s: %w", p.JobID, err)
	}
	if err := s.staging.Put(ctx, planKey(p.JobID), data); err != nil {
		return fmt.Errorf("store the plan of job %s in staging: %w", p.JobID, err)
	}
	return nil
}

// Plan answers a dry run's plan.
func (s *Service) Plan(ctx context.Context, id string) (job.Plan, error) {
	if err := ValidateJobID(id); err != nil {
		return job.Plan{}, err
	}
	data, err := s.staging.Get(ctx, planKey(id))
	if errkind.Of(err) == errkind.NotFound {
		return job.Plan{}, errkind.New(errkind.NotFound, fmt.Sprintf("job %s has no plan: only a finished dry run (dry_run: true) has one, "+
			"and plans are deleted after %s", id, planRetention))
	}
	if err != nil {
		return job.Plan{}, fmt.Errorf("read the plan of job %s: %w", id, err)
	}
	var p job.Plan
	if err := json.Unmarshal(data, &p); err != nil {
		return job.Plan{}, fmt.Errorf("the plan of job %s in staging is not readable: %w", id, err)
	}
	return p, nil
}
