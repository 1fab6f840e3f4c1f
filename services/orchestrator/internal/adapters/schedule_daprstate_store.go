package adapters

import (
	"context"

	"github.com/secure-agent/secure-agent/libs/statestore"
	"github.com/secure-agent/secure-agent/services/orchestrator/internal/app"
)

// schedulesKey holds every job schedule (tens at most, so one key).
const schedulesKey = "schedules"

// ScheduleStore keeps the job schedules under one key of a Dapr state
// store, written with its etag: two replicas never lose each other's update.
type ScheduleStore struct {
	st statestore.Store
}

func NewScheduleStore(client StateClient, storeName string) *ScheduleStore {
	return &ScheduleStore{st: newStore(client, storeName)}
}

type storedSchedules struct {
	Schedules map[string]app.ScheduleRecord `json:"schedules"`
}

// Load reads the schedules (none when the key does not exist) and their etag.
func (s *ScheduleStore) Load(ctx context.Context) (map[string]app.ScheduleRecord, string, error) {
	var v storedSchedules
	etag, _, err := s.st.Load(ctx, schedulesKey, &v)
	if err != nil {
		return nil, "", err
	}
	if v.Schedules == nil {
		v.Schedules = map[string]app.ScheduleRecord{}
	}
	return v.Schedules, etag, nil
}

// Save writes the schedules if nobody else did since the Load that gave etag.
func (s *ScheduleStore) Save(ctx context.Context, all map[string]app.ScheduleRecord, etag string) error {
	return s.st.Save(ctx, schedulesKey, storedSchedules{Schedules: all}, etag)
}
