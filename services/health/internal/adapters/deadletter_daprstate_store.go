package adapters

import (
	"context"
	"fmt"
	"slices"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/pubsub"
	"github.com/secure-agent/secure-agent/libs/statestore"
	"github.com/secure-agent/secure-agent/services/health/internal/app"
)

// deadLetterIndexKey lists the kept dead letters' ids, oldest first.
const deadLetterIndexKey = "deadletters-index"

// MaxDeadLetters bounds what health keeps. A dead letter that finds the
// store full is not lost: health answers RETRY and the broker keeps it
// until an operator replays or discards some.
const MaxDeadLetters = 10000

// DeadLetterStore keeps dead letters (deadletter/{id}) and their index in a
// Dapr state store.
type DeadLetterStore struct {
	st  statestore.Store
	max int
}

func NewDeadLetterStore(client statestore.Client, storeName string) *DeadLetterStore {
	return &DeadLetterStore{st: statestore.Store{Client: client, Name: storeName, Owner: "health"}, max: MaxDeadLetters}
}

type deadLetterIndex struct {
	IDs []string `json:"ids"`
}

func deadLetterKey(id string) string { return "deadletter/" + id }

// Put keeps dl, or counts one more receipt of a dead letter already kept.
// The record is written before the index, so a crash in between leaves a
// record the next Put of the same dead letter indexes.
func (s *DeadLetterStore) Put(ctx context.Context, dl pubsub.DeadLetter) (app.DeadLetterRecord, error) {
	var rec app.DeadLetterRecord
	for range 50 {
		var cur app.DeadLetterRecord
		etag, found, err := s.st.Load(ctx, deadLetterKey(dl.ID), &cur)
		if err != nil {
			return rec, err
		}
		rec = app.DeadLetterRecord{DeadLetter: dl, Received: 1}
		if found {
			rec = cur
			rec.Received++
			rec.Reason = dl.Reason
		}
		err = s.st.Save(ctx, deadLetterKey(dl.ID), rec, etag)
		if errkind.Of(err) == errkind.Conflict {
			continue
		}
		if err != nil {
			return rec, err
		}
		return rec, s.index(ctx, func(idx *deadLetterIndex) (bool, error) {
			if slices.Contains(idx.IDs, dl.ID) {
				return false, nil
			}
			if len(idx.IDs) >= s.max {
				return false, errkind.New(errkind.Transient, fmt.Sprintf(
					"health keeps at most %d dead letters and is full; replay or discard some (agentctl deadletters)", s.max))
			}
			idx.IDs = append(idx.IDs, dl.ID)
			return true, nil
		})
	}
	return rec, errkind.New(errkind.Transient, "dead letter "+dl.ID+" changed too often to update")
}

// Update rewrites a kept record.
func (s *DeadLetterStore) Update(ctx context.Context, rec app.DeadLetterRecord) error {
	var cur app.DeadLetterRecord
	etag, found, err := s.st.Load(ctx, deadLetterKey(rec.ID), &cur)
	if err != nil {
		return err
	}
	if !found {
		return errkind.New(errkind.NotFound, "dead letter "+rec.ID+" is not kept (replayed or discarded meanwhile)")
	}
	return s.st.Save(ctx, deadLetterKey(rec.ID), rec, etag)
}

// Get reads one record.
func (s *DeadLetterStore) Get(ctx context.Context, id string) (app.DeadLetterRecord, error) {
	var rec app.DeadLetterRecord
	_, found, err := s.st.Load(ctx, deadLetterKey(id), &rec)
	if err != nil {
		return rec, err
	}
	if !found {
		return rec, errkind.New(errkind.NotFound, "no dead letter "+id+"; list them with `agentctl deadletters list`")
	}
	return rec, nil
}

// List reads every indexed record, oldest first.
func (s *DeadLetterStore) List(ctx context.Context) ([]app.DeadLetterRecord, error) {
	var idx deadLetterIndex
	if _, _, err := s.st.Load(ctx, deadLetterIndexKey, &idx); err != nil {
		return nil, err
	}
	out := make([]app.DeadLetterRecord, 0, len(idx.IDs))
	for _, id := range idx.IDs {
		var rec app.DeadLetterRecord
		_, found, err := s.st.Load(ctx, deadLetterKey(id), &rec)
		if err != nil {
			return nil, err
		}
		if found {
			out = append(out, rec)
		}
	}
	return out, nil
}

// Delete removes a record: from the index first, so a crash in between
// leaves an unlisted record, never a listed one that is gone.
func (s *DeadLetterStore) Delete(ctx context.Context, id string) error {
	err := s.index(ctx, func(idx *deadLetterIndex) (bool, error) {
		i := slices.Index(idx.IDs, id)
		if i < 0 {
			return false, nil
		}
		idx.IDs = slices.Delete(idx.IDs, i, i+1)
		return true, nil
	})
	if err != nil {
		return err
	}
	return s.st.Delete(ctx, deadLetterKey(id))
}

// index applies change to the index and saves it if change says so,
// retrying lost races.
func (s *DeadLetterStore) index(ctx context.Context, change func(*deadLetterIndex) (bool, error)) error {
	for range 50 {
		var idx deadLetterIndex
		etag, _, err := s.st.Load(ctx, deadLetterIndexKey, &idx)
		if err != nil {
			return err
		}
		changed, err := change(&idx)
		if err != nil || !changed {
			return err
		}
		err = s.st.Save(ctx, deadLetterIndexKey, idx, etag)
		if errkind.Of(err) == errkind.Conflict {
			continue
		}
		return err
	}
	return errkind.New(errkind.Transient, "the dead-letter index changed too often to update")
}
