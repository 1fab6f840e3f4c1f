package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/changeset"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/model"
)

// CatalogState is the pointer to a connection's catalog state (ADR 0015):
// the snapshot file in staging left by the last successful run.
type CatalogState struct {
	JobID   string    `json:"job_id"`
	Key     string    `json:"key"`
	SHA256  string    `json:"sha256"`
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

// snapshotKey is where a job's catalog state lives in staging, outside the
// jobs/ prefix the staging sweep deletes.
func snapshotKey(connection, jobID string) string {
	sum := sha256.Sum256([]byte(connection))
	return "catalog-state/" + hex.EncodeToString(sum[:8]) + "/" + jobID + ".arrows"
}

// digestsKey is where a partition run's digests are staged.
func digestsKey(jobID, partition, run string) string {
	return "jobs/" + jobID + "/digests/" + partition + "-" + run + ".arrows"
}

// jobBase returns the job's pinned base and its snapshot, pinning it on
// first use.
func (s *Service) jobBase(ctx context.Context, jobID, connection, mode string, log *zap.Logger) (JobBase, *changeset.Snapshot, error) {
	base, err := s.pinBase(ctx, jobID, connection, mode, log)
	if err != nil {
		return JobBase{}, nil, err
	}
	snap, err := s.baseSnapshot(ctx, jobID, connection, base)
	return base, snap, err
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

// baseSnapshot loads the state a pinned base compares with (nil: none).
func (s *Service) baseSnapshot(ctx context.Context, jobID, connection string, base JobBase) (*changeset.Snapshot, error) {
	if base.State == nil {
		return nil, nil
	}
	snap, err := s.loadSnapshot(ctx, connection, *base.State)
	if err != nil {
		// Pinned and then lost: nothing this job compares can be trusted.
		return nil, fmt.Errorf("the catalog state job %s compares with: %w", jobID, err)
	}
	return snap, nil
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
	if _, err := s.loadSnapshot(ctx, connection, st); err != nil {
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

// loadSnapshot reads a catalog state from staging and checks it against
// its pointer. The last one read is kept, so a job's partitions read it
// once.
func (s *Service) loadSnapshot(ctx context.Context, connection string, st CatalogState) (*changeset.Snapshot, error) {
	if snap := s.snapshots.get(st.SHA256); snap != nil {
		return snap, nil
	}
	data, err := s.staging.Get(ctx, st.Key)
	if err != nil {
		return nil, fmt.Errorf("read %s from staging: %w", st.Key, err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != st.SHA256 {
		return nil, fmt.Errorf("%s has sha256 %s, its record says %s (changed or corrupted in staging)", st.Key, got, st.SHA256)
	}
	snap, err := changeset.DecodeSnapshot(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", st.Key, err)
	}
	if snap.Meta.Connection != connection || snap.Meta.JobID != st.JobID {
		return nil, fmt.Errorf("%s is the state of connection %s job %s, its record says connection %s job %s",
			st.Key, snap.Meta.Connection, snap.Meta.JobID, connection, st.JobID)
	}
	s.snapshots.put(st.SHA256, snap)
	return snap, nil
}

// snapshotCache keeps the last catalog state read.
type snapshotCache struct {
	mu   sync.Mutex
	sum  string
	snap *changeset.Snapshot
}

func (c *snapshotCache) get(sum string) *changeset.Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sum == sum {
		return c.snap
	}
	return nil
}

func (c *snapshotCache) put(sum string, snap *changeset.Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sum, c.snap = sum, snap
}
