package app

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

// memSlots is a SlotStore with the etag semantics of a Dapr state store.
// beforeSave, when set, runs inside Save first (to let a rival write win).
type memSlots struct {
	mu         sync.Mutex
	data       map[string]Slots
	etags      map[string]int
	beforeSave func(connection string)
	saves      int
}

func newMemSlots() *memSlots { return &memSlots{data: map[string]Slots{}, etags: map[string]int{}} }

func (s *memSlots) Load(_ context.Context, c string) (Slots, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[c]
	if !ok {
		return Slots{}, "", nil
	}
	return Slots{Holders: append([]string(nil), v.Holders...)}, strconv.Itoa(s.etags[c]), nil
}

func (s *memSlots) Save(_ context.Context, c string, v Slots, etag string) error {
	if s.beforeSave != nil {
		hook := s.beforeSave
		s.beforeSave = nil
		hook(c)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, exists := s.data[c]
	if (etag == "" && exists) || (etag != "" && etag != strconv.Itoa(s.etags[c])) {
		return errkind.New(errkind.Conflict, "etag mismatch")
	}
	s.data[c] = v
	s.etags[c]++
	s.saves++
	return nil
}

func (s *memSlots) put(c string, holders ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[c] = Slots{Holders: holders}
	s.etags[c]++
}

func (s *memSlots) holders(c string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data[c].Holders
}

// memRuns is a RunNotifier/JobRunner keeping instances in memory.
type memRuns struct {
	mu         sync.Mutex
	runs       map[string]Run
	notified   map[string][]Event
	inspectErr error
	notifyErr  error
	startErr   error
}

func newMemRuns() *memRuns {
	return &memRuns{runs: map[string]Run{}, notified: map[string][]Event{}}
}

func (r *memRuns) set(id string, run Run) {
	r.mu.Lock()
	defer r.mu.Unlock()
	run.Found = true
	r.runs[id] = run
}

func (r *memRuns) Start(_ context.Context, id string, in WorkflowInput) error {
	if r.startErr != nil {
		return r.startErr
	}
	b, _ := json.Marshal(in)
	r.set(id, Run{State: RunPending, Input: string(b)})
	return nil
}

func (r *memRuns) Inspect(_ context.Context, id string) (Run, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inspectErr != nil {
		return Run{}, r.inspectErr
	}
	return r.runs[id], nil
}

func (r *memRuns) Notify(_ context.Context, id string, ev Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.notifyErr != nil {
		return r.notifyErr
	}
	r.notified[id] = append(r.notified[id], ev)
	return nil
}

func (r *memRuns) events(id string) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.notified[id]...)
}

// Claim implements SubmissionStore in memory.
func (s *memJobs) Claim(_ context.Context, key string, sub Submission) (Submission, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil {
		s.keys = map[string]Submission{}
	}
	if held, ok := s.keys[key]; ok {
		return held, false, nil
	}
	s.keys[key] = sub
	return sub, true, nil
}
