package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

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
	diff       *changeset.Diff
	// next is the run the job's state was written to (writeChanges).
	next *changeset.RunRef
}

// baseJob is the job whose state the run compares with ("" for none).
func (c *jobChanges) baseJob() string {
	if c.base.State == nil {
		return ""
	}
	return c.base.State.JobID
}

// compareJob compares every partition's digests with the job's base in
// one streaming pass (changeset.CompareRuns): the counts and fail-safes.
// It answers nil for a job without a connection (nothing to compare with).
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
	baseIdx, err := s.baseIndex(ctx, id, conn, base)
	if err != nil {
		return nil, err
	}
	var digests []changeset.Index
	var incomplete []string
	for _, pid := range slices.Sorted(maps.Keys(parts)) {
		d := parts[pid].Digests
		if d == nil {
			incomplete = append(incomplete, pid)
			continue
		}
		xs, err := s.digestsIndexes(ctx, conn, id, pid, *d)
		if err != nil {
			return nil, err
		}
		digests = append(digests, xs...)
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
	var baseRun changeset.Opener
	if baseIdx != nil {
		baseRun = func() (changeset.Iterator, error) { return changeset.NewRunReader(ctx, s.staging, *baseIdx), nil }
	}
	seen := func() (changeset.Iterator, error) {
		its := make([]changeset.Iterator, len(digests))
		for i, x := range digests {
			its[i] = changeset.NewRunReader(ctx, s.staging, x)
		}
		return changeset.Merge(its...), nil
	}
	start := time.Now()
	if c.diff, err = changeset.CompareRuns(baseRun, seen, scope, opts); err != nil {
		return nil, changesError(id, err)
	}
	baseN, seenN := c.diff.Sizes()
	log.Info("job compared with its connection's catalog state", zap.Int("assets", seenN), zap.Int("base_assets", baseN),
		zap.Int("digest_runs", len(digests)), zap.Duration("elapsed", time.Since(start)))
	return c, nil
}

// changesError is an error of a pass over the job's digests and state: a
// file changed in staging fails the job, anything else is tried again.
func changesError(id string, err error) error {
	var bad *changeset.CorruptError
	if errors.As(err, &bad) {
		return errkind.Wrap(errkind.Invalid, err, fmt.Sprintf("compare job %s with its connection's catalog state: "+
			"staging was altered; run the job again", id))
	}
	return fmt.Errorf("compare job %s with its connection's catalog state: %w", id, err)
}

// digestsIndexes read the indexes of a partition's digests.
func (s *Service) digestsIndexes(ctx context.Context, conn, id, pid string, d StagedDigests) ([]changeset.Index, error) {
	refs, chunked := d.Runs, true
	if len(refs) == 0 {
		if d.Key == "" {
			return nil, nil // a partition without rows
		}
		refs, chunked = []changeset.RunRef{{Key: d.Key, SHA256: d.SHA256, Entries: d.Entries}}, false
	}
	out := make([]changeset.Index, 0, len(refs))
	for _, ref := range refs {
		x, err := s.runIndex(ctx, ref, chunked, conn, id)
		if err != nil {
			return nil, changesError(id, fmt.Errorf("the digests of partition %s: %w", pid, err))
		}
		out = append(out, x)
	}
	return out, nil
}

// writeChanges makes the second pass over the job's digests and state: it
// writes the job's state to staging as a run (unless it is already the
// connection's) and its tombstones as upload files to every destination,
// like a partition's files, and returns those.
func (s *Service) writeChanges(ctx context.Context, id string, req job.FinalizeRequest, c *jobChanges, dests []openDest, resumed bool, log *zap.Logger) ([]model.FileInfo, error) {
	_, cur, err := s.checkBaseCurrent(ctx, id, c)
	if err != nil {
		return nil, err
	}
	var next *changeset.RunWriter
	if cur == nil || cur.JobID != id {
		next = changeset.NewRunWriter(s.staging, statePrefix(c.connection, id, attemptID()),
			changeset.Meta{Connection: c.connection, JobID: id, CreatedAt: s.now().UTC()})
	}
	ev := job.PartitionDone{JobID: id, Partition: tombstonePartition}
	var files []model.FileInfo
	u := newUploadWriter(tombstonePartition, model.KindTombstone, s.target, func(info model.FileInfo, data []byte) error {
		for _, d := range dests {
			if resumed && d.holds(ctx, id, info) {
				continue // an earlier attempt wrote it
			}
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
	emit := changeset.Emit{Tombstone: func(t changeset.Tombstone) error {
		if err := w.Tombstone(model.Tombstone{QualifiedName: t.QualifiedName, AssetKind: t.Kind, Reason: t.Reason,
			ParentQualifiedName: changeset.ParentOf(c.connection, t.Kind, t.QualifiedName)}); err != nil {
			return fmt.Errorf("tombstone of %s: %w", t.QualifiedName, err)
		}
		return nil
	}}
	if next != nil {
		emit.Next = func(e changeset.Entry) error { return next.Add(ctx, e) }
	}
	start := time.Now()
	if err := c.diff.Emit(emit); err != nil {
		_ = w.Close()
		u.Discard()
		return nil, changesError(id, err)
	}
	if err := w.Close(); err != nil {
		u.Discard()
		return nil, fmt.Errorf("tombstones of job %s: %w", id, err)
	}
	if err := u.Close(); err != nil {
		return nil, err
	}
	if next != nil {
		ref, err := next.Close(ctx)
		if err != nil {
			return nil, fmt.Errorf("store the catalog state of job %s in staging: %w", id, err)
		}
		c.next = &ref
	}
	log.Info("job's catalog state and tombstones written", zap.Int("tombstone_files", len(files)), zap.Duration("elapsed", time.Since(start)))
	return files, nil
}

// attemptID tells one finalize attempt's files from another's.
func attemptID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
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

// commitState keeps the job's catalog state, written by writeChanges, as
// the connection's current one: the pointer is replaced only if it still
// names the state the job compared with. A repeated finalize finds the
// pointer already naming the job.
func (s *Service) commitState(ctx context.Context, id string, c *jobChanges, log *zap.Logger) error {
	etag, cur, err := s.checkBaseCurrent(ctx, id, c)
	if err != nil {
		return err
	}
	if cur != nil && cur.JobID == id {
		return nil
	}
	if c.next == nil {
		return fmt.Errorf("the catalog state of job %s was not written", id)
	}
	st := CatalogState{JobID: id, Key: c.next.Key, SHA256: c.next.SHA256, Chunked: true, Bytes: c.next.Bytes,
		Entries: c.next.Entries, At: s.now().UTC()}
	if err := s.versioned.Save(ctx, catalogStateKey(c.connection), st, etag); err != nil {
		if errkind.Of(err) == errkind.Conflict {
			return errkind.Wrap(errkind.Conflict, err, fmt.Sprintf("another run of connection %s replaced its catalog state "+
				"while job %s finished; run the job again", c.connection, id))
		}
		return fmt.Errorf("replace the catalog state of connection %s: %w", c.connection, err)
	}
	if cur != nil && cur.Key != st.Key {
		s.deleteState(ctx, c.connection, *cur, log)
	}
	log.Info("catalog state replaced", zap.String("connection", c.connection), zap.Int("entries", st.Entries),
		zap.Int64("bytes", st.Bytes), zap.String("previous_job", c.baseJob()))
	return nil
}

// countChanges adds a finished run's changes to the metrics.
func (s *Service) countChanges(c *jobChanges) {
	for k, n := range c.diff.Counts {
		for change, v := range map[string]int64{"created": n.Created, "updated": n.Updated, "unchanged": n.Unchanged,
			"deleted": n.Deleted, "withheld": n.Withheld} {
			s.m.catalogChanges.WithLabelValues(string(k), change).Add(float64(v))
		}
	}
	for _, fs := range c.diff.FailSafes {
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
	for _, fs := range c.diff.FailSafes {
		out = append(out, "fail-safe "+fs.Name+": "+fs.Message)
	}
	return out
}

// planKey is where a dry run's plan is kept in staging.
func planKey(jobID string) string { return "plans/" + jobID + ".json" }

// plan is the dry run's change set, item by item, from a second pass.
func (c *jobChanges) plan(id string) (job.Plan, error) {
	p := job.Plan{JobID: id, Connection: c.connection, Mode: c.base.Mode, Base: c.baseJob(), Changes: c.diff.Counts,
		FailSafes: c.diff.FailSafes, Warnings: c.warnings(), Items: []job.PlanItem{}}
	err := c.diff.Emit(changeset.Emit{
		Change: func(op changeset.Op, e changeset.Entry, attrs []string) error {
			item := job.PlanItem{Op: string(op), Kind: e.Kind, QualifiedName: e.QualifiedName}
			if op == changeset.Updated {
				item.Attributes = attrs
			}
			p.Items = append(p.Items, item)
			return nil
		},
		Tombstone: func(t changeset.Tombstone) error {
			p.Items = append(p.Items, job.PlanItem{Op: string(changeset.Deleted), Kind: t.Kind, QualifiedName: t.QualifiedName, Reason: t.Reason})
			return nil
		},
	})
	if err != nil {
		return job.Plan{}, changesError(id, err)
	}
	return p, nil
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
