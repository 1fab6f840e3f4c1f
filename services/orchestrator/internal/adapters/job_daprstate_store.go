package adapters

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/statestore"
	"github.com/secure-agent/secure-agent/services/orchestrator/internal/app"
)

// indexKey holds the ids of submitted jobs, oldest first.
const indexKey = "jobs-index"

// MaxIndexedJobs bounds the job index; older jobs drop out of listings
// (GET by id still finds them while their workflow state exists).
const MaxIndexedJobs = 10000

// JobStore keeps job records (key job/{id}) and the job index (key
// jobs-index) in a Dapr state store.
type JobStore struct {
	st       statestore.Store
	maxIndex int
}

func NewJobStore(client StateClient, storeName string) *JobStore {
	return &JobStore{st: newStore(client, storeName), maxIndex: MaxIndexedJobs}
}

type jobIndex struct {
	IDs []string `json:"ids"`
}

func recordKey(id string) string { return "job/" + id }

// Save creates the record of a new job.
func (s *JobStore) Save(ctx context.Context, rec app.JobRecord) error {
	return s.st.Save(ctx, recordKey(rec.ID), rec, "")
}

// Get reads a job's record.
func (s *JobStore) Get(ctx context.Context, id string) (app.JobRecord, error) {
	var rec app.JobRecord
	_, found, err := s.st.Load(ctx, recordKey(id), &rec)
	if err != nil {
		return rec, err
	}
	if !found {
		return rec, errkind.New(errkind.NotFound, "job "+id+" has no record")
	}
	return rec, nil
}

// Add appends id to the index, retrying when another submission wrote
// the index at the same time.
func (s *JobStore) Add(ctx context.Context, id string) error {
	for range 50 {
		var idx jobIndex
		etag, _, err := s.st.Load(ctx, indexKey, &idx)
		if err != nil {
			return err
		}
		if slices.Contains(idx.IDs, id) {
			return nil
		}
		idx.IDs = append(idx.IDs, id)
		if over := len(idx.IDs) - s.maxIndex; over > 0 {
			idx.IDs = idx.IDs[over:]
		}
		err = s.st.Save(ctx, indexKey, idx, etag)
		if errkind.Of(err) == errkind.Conflict {
			continue
		}
		return err
	}
	return errkind.New(errkind.Transient, fmt.Sprintf("the job index changed too often to add job %s", id))
}

// Latest returns up to limit ids, newest first.
func (s *JobStore) Latest(ctx context.Context, limit int) ([]string, error) {
	var idx jobIndex
	if _, _, err := s.st.Load(ctx, indexKey, &idx); err != nil {
		return nil, err
	}
	out := make([]string, 0, min(limit, len(idx.IDs)))
	for i := len(idx.IDs) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, idx.IDs[i])
	}
	return out, nil
}

// submissionKey is where an idempotency key's submission is kept (hashed:
// the key is the client's).
func submissionKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "submission/" + hex.EncodeToString(sum[:16])
}

// Claim records sub under key unless the key is taken (first write wins),
// and answers the submission the key holds.
func (s *JobStore) Claim(ctx context.Context, key string, sub app.Submission) (app.Submission, bool, error) {
	for range 10 {
		err := s.st.Save(ctx, submissionKey(key), sub, "")
		if err == nil {
			return sub, true, nil
		}
		if errkind.Of(err) != errkind.Conflict {
			return app.Submission{}, false, err
		}
		var held app.Submission
		_, found, err := s.st.Load(ctx, submissionKey(key), &held)
		if err != nil {
			return app.Submission{}, false, err
		}
		if found {
			return held, false, nil
		}
	}
	return app.Submission{}, false, errkind.New(errkind.Transient, "the idempotency key's record changed too often to read")
}
