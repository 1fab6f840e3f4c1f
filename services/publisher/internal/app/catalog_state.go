package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/changeset"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// CatalogState is the pointer to a connection's catalog state (ADR 0015):
// the run in staging left by the last successful run (ADR 0018).
type CatalogState struct {
	JobID string `json:"job_id"`
	// Key and SHA256 are the run's index file (Chunked), or the one
	// snapshot file a state was kept in before runs.
	Key     string    `json:"key"`
	SHA256  string    `json:"sha256"`
	Chunked bool      `json:"chunked,omitempty"`
	Bytes   int64     `json:"bytes"`
	Entries int       `json:"entries"`
	At      time.Time `json:"at"`
}

// JobBase is what a job compares with, pinned when its first partition
// is published so that every partition compares with the same state.
type JobBase struct {
	// Mode is the mode the run ships in.
	Mode string `json:"mode"`
	// State is the catalog state compared with; nil for the first run
	// of a connection (or one whose state could not be read).
	State *CatalogState `json:"state,omitempty"`
	// Replaces is the job whose state this run replaces when it
	// succeeds: State's, or that of a state that could not be used.
	Replaces string `json:"replaces,omitempty"`
	// Warning says why a run asked to be incremental ships in full.
	Warning string `json:"warning,omitempty"`
}

func catalogStateKey(connection string) string { return "catalogstate/" + connection }

func baseKey(jobID string) string { return "base/" + jobID }

// statePrefix is where a job's catalog state lives in staging, outside
// the jobs/ prefix the staging sweep deletes: one folder per finalize
// attempt, so two attempts never write the same file.
func statePrefix(connection, jobID, attempt string) string {
	sum := sha256.Sum256([]byte(connection))
	return "catalog-state/" + hex.EncodeToString(sum[:8]) + "/" + jobID + "-" + attempt + "/"
}

// digestsPrefix is where a partition run's digests are staged.
func digestsPrefix(jobID, partition, run string) string {
	return "jobs/" + jobID + "/digests/" + partition + "-" + run + "/"
}

// jobBase returns the job's pinned base and the index of its state (nil:
// none), pinning it on first use.
func (s *Service) jobBase(ctx context.Context, jobID, connection, mode string, log *zap.Logger) (JobBase, *changeset.Index, error) {
	base, err := s.pinBase(ctx, jobID, connection, mode, log)
	if err != nil {
		return JobBase{}, nil, err
	}
	x, err := s.baseIndex(ctx, jobID, connection, base)
	return base, x, err
}

// partitionBase reads the digests of the state's assets a partition may
// hold: those under its schemas (or its database) and its database's own,
// only the chunks that hold them. The database's name is the first row's:
// a MySQL partition names schemas only. A range of one schema holds its
// tables in the range; the first range also the schema's routines.
func (s *Service) partitionBase(ctx context.Context, ev job.PartitionDone, x changeset.Index, first changeset.Entry) (*changeset.DigestSet, error) {
	n, err := changeset.SplitName(ev.Connection, first.Kind, first.QualifiedName)
	if err != nil {
		return nil, fmt.Errorf("classify the rows of partition %s: %w", ev.Partition, err)
	}
	names := model.Names{Connection: ev.Connection, Database: n.Database}
	ranges := []changeset.KeyRange{changeset.Exactly(names.DatabaseQN())}
	if len(ev.Schemas) == 0 {
		ranges = append(ranges, changeset.Under(names.DatabaseQN()))
	}
	for _, schema := range ev.Schemas {
		names.Schema = schema
		ranges = append(ranges, changeset.Under(names.SchemaQN()))
	}
	var keep func(changeset.Entry) bool
	if r := ev.Range; r != nil && len(ev.Schemas) == 1 {
		ranges = append(ranges[:1], tableSpan(names.SchemaQN(), *r))
		keep = func(e changeset.Entry) bool {
			n, err := changeset.SplitName(ev.Connection, e.Kind, e.QualifiedName)
			if err != nil || n.Table == "" {
				return r.From == "" // the schema, its routines: the first range's
			}
			return n.Table >= r.From && (r.Before == "" || n.Table < r.Before)
		}
	}
	set, err := changeset.LoadDigests(ctx, s.staging, x, ranges, keep)
	if err != nil {
		return nil, fmt.Errorf("read the catalog state of partition %s: %w", ev.Partition, err)
	}
	return set, nil
}

// tableSpan is a range of qualified names holding every asset of schema
// (qualified name sqn) whose table's name is in r: escaping a table's name
// keeps its order up to its first '/' (which becomes "%2F"), so the span
// is cut there. The first range spans the whole schema, for its routines.
func tableSpan(sqn string, r model.TableRange) changeset.KeyRange {
	if r.From == "" {
		return changeset.Under(sqn)
	}
	cut := func(name string) string {
		if i := strings.IndexByte(name, '/'); i >= 0 {
			name = name[:i]
		}
		return model.EscapeSegment(name)
	}
	span := changeset.KeyRange{Lo: sqn + "/" + cut(r.From), Hi: sqn + "0"}
	if r.Before != "" {
		span.Hi = sqn + "/" + cut(r.Before) + "\xff" // no UTF-8 byte is 0xff
	}
	return span
}

// pinBase returns the job's pinned base, pinning it on first use: the
// connection's current state and the mode the spec asks for (incremental
// when it asks for none and there is a state).
func (s *Service) pinBase(ctx context.Context, jobID, connection, mode string, log *zap.Logger) (JobBase, error) {
	var base JobBase
	_, ok, err := s.versioned.Load(ctx, baseKey(jobID), &base)
	if err != nil {
		return JobBase{}, fmt.Errorf("read the catalog base of job %s: %w", jobID, err)
	}
	if ok {
		return base, nil
	}
	if base, err = s.newJobBase(ctx, connection, mode, log); err != nil {
		return JobBase{}, err
	}
	err = s.versioned.Save(ctx, baseKey(jobID), base, "")
	if errkind.Of(err) == errkind.Conflict {
		// Another partition pinned it first: use that one.
		if _, _, err = s.versioned.Load(ctx, baseKey(jobID), &base); err != nil {
			return JobBase{}, fmt.Errorf("read the catalog base of job %s: %w", jobID, err)
		}
	} else if err != nil {
		return JobBase{}, fmt.Errorf("pin the catalog base of job %s: %w", jobID, err)
	}
	return base, nil
}

// baseIndex is the index of the state a pinned base compares with (nil:
// none).
func (s *Service) baseIndex(ctx context.Context, jobID, connection string, base JobBase) (*changeset.Index, error) {
	if base.State == nil {
		return nil, nil
	}
	x, err := s.stateIndex(ctx, connection, *base.State)
	if err != nil {
		// Pinned and then lost: nothing this job compares can be trusted.
		return nil, fmt.Errorf("the catalog state job %s compares with: %w", jobID, err)
	}
	return &x, nil
}

func (s *Service) newJobBase(ctx context.Context, connection, mode string, log *zap.Logger) (JobBase, error) {
	var st CatalogState
	_, ok, err := s.versioned.Load(ctx, catalogStateKey(connection), &st)
	if err != nil {
		return JobBase{}, fmt.Errorf("read the catalog state of connection %s: %w", connection, err)
	}
	base := JobBase{Mode: mode}
	if base.Mode == "" {
		base.Mode = model.ModeIncremental
	}
	if !ok {
		if base.Mode == model.ModeIncremental {
			base.Warning = "this is the connection's first run: every asset is shipped (mode full)"
		}
		base.Mode = model.ModeFull
		return base, nil
	}
	base.Replaces = st.JobID
	if err := s.checkState(ctx, connection, st); err != nil {
		s.m.catalogStateUnreadable.Inc()
		log.Warn("the connection's catalog state cannot be used: this run ships every asset and deletes nothing", zap.Error(err))
		base.Mode = model.ModeFull
		base.Warning = fmt.Sprintf("the catalog state of the last run (job %s) cannot be used (%v): every asset is shipped "+
			"(mode full) and nothing is deleted; the next run compares with this one", st.JobID, err)
		return base, nil
	}
	base.State = &st
	return base, nil
}

// stateIndex reads the index of a catalog state and checks it against its
// pointer; the chunks are checked as they are read.
func (s *Service) stateIndex(ctx context.Context, connection string, st CatalogState) (changeset.Index, error) {
	return s.runIndex(ctx, changeset.RunRef{Key: st.Key, SHA256: st.SHA256, Entries: st.Entries}, st.Chunked, connection, st.JobID)
}

// runIndex is the index of a run of job jobID of connection in staging:
// its index file (chunked), checked to name them, or the one snapshot file
// an older publisher kept, whose own metadata is checked as it is read.
func (s *Service) runIndex(ctx context.Context, ref changeset.RunRef, chunked bool, connection, jobID string) (changeset.Index, error) {
	if !chunked {
		x := changeset.SingleFile(ref.Key, ref.SHA256, ref.Entries)
		x.Connection, x.JobID = connection, jobID
		return x, nil
	}
	x, err := changeset.LoadIndex(ctx, s.staging, ref)
	if err != nil {
		return changeset.Index{}, err
	}
	if x.Connection != connection || x.JobID != jobID {
		return changeset.Index{}, fmt.Errorf("%s is of connection %s job %s, its record says connection %s job %s",
			ref.Key, x.Connection, x.JobID, connection, jobID)
	}
	return x, nil
}

// checkState reads every file of a catalog state and checks it: a state
// that cannot be used is found before a job pins it, not half-way.
func (s *Service) checkState(ctx context.Context, connection string, st CatalogState) error {
	x, err := s.stateIndex(ctx, connection, st)
	if err != nil {
		return err
	}
	return changeset.Verify(ctx, s.staging, x)
}

// deleteState deletes the files of a catalog state that was replaced.
func (s *Service) deleteState(ctx context.Context, connection string, st CatalogState, log *zap.Logger) {
	keys := []string{st.Key}
	if st.Chunked {
		x, err := s.stateIndex(ctx, connection, st)
		if err != nil {
			log.Warn("the previous catalog state's index is unreadable: its chunk files stay in staging", zap.String("key", st.Key), zap.Error(err))
		}
		for _, c := range x.Chunks {
			keys = append(keys, c.Key)
		}
	}
	for _, k := range keys {
		if err := s.staging.Delete(ctx, k); err != nil && errkind.Of(err) != errkind.NotFound {
			log.Warn("a file of the previous catalog state was not deleted from staging", zap.String("key", k), zap.Error(err))
		}
	}
}
