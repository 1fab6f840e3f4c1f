package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Job states as the control plane sees them.
const (
	JobQueued = "queued"
	JobLeased = "leased"
)

// Lease states.
const (
	LeaseActive   = "active"
	LeaseExpired  = "expired"  // lost: the job went back to the queue
	LeaseReleased = "released" // given back by the agent
	LeaseFinished = "finished" // a terminal status was reported
)

// Lease is the protocol's Lease schema.
type Lease struct {
	LeaseID         string          `json:"lease_id"`
	JobID           string          `json:"job_id"`
	ExpiresAt       time.Time       `json:"expires_at"`
	DurationSeconds int             `json:"duration_seconds"`
	Spec            json.RawMessage `json:"spec"`
}

// LeaseInfo is a lease as tests inspect it.
type LeaseInfo struct {
	LeaseID   string    `json:"lease_id"`
	JobID     string    `json:"job_id"`
	AgentID   string    `json:"agent_id"`
	ExpiresAt time.Time `json:"expires_at"`
	State     string    `json:"state"`
	// Status is the last job state reported under this lease.
	Status string `json:"status,omitempty"`
}

// JobInfo is a job as tests inspect it.
type JobInfo struct {
	ID    string          `json:"id"`
	State string          `json:"state"` // queued, leased, or the terminal status
	Spec  json.RawMessage `json:"spec"`
	// Leases counts how often it was leased.
	Leases int `json:"leases"`
}

type job struct {
	JobInfo
	statuses []StatusRecord
}

type workQueue struct {
	mu       sync.Mutex
	duration time.Duration
	now      func() time.Time
	jobs     map[string]*job
	order    []string // job ids, in creation order
	queue    []string // job ids waiting for a lease
	leases   map[string]*LeaseInfo
	lorder   []string
	notify   chan struct{} // closed and replaced when work is queued
}

func newWorkQueue(d time.Duration, now func() time.Time) *workQueue {
	return &workQueue{duration: d, now: now, jobs: map[string]*job{}, leases: map[string]*LeaseInfo{}, notify: make(chan struct{})}
}

func (q *workQueue) wake() {
	close(q.notify)
	q.notify = make(chan struct{})
}

// sweepLocked expires overdue leases and queues their jobs again, as a real
// control plane does when an agent stops renewing.
func (q *workQueue) sweepLocked() {
	now := q.now()
	for _, id := range q.lorder {
		l := q.leases[id]
		if l.State == LeaseActive && !now.Before(l.ExpiresAt) {
			l.State = LeaseExpired
			q.requeueLocked(l.JobID)
		}
	}
}

func (q *workQueue) requeueLocked(jobID string) {
	q.jobs[jobID].State = JobQueued
	q.queue = append(q.queue, jobID)
	q.wake()
}

func (q *workQueue) enqueue(spec json.RawMessage) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	id := "job-" + randomHex(8)
	q.jobs[id] = &job{JobInfo: JobInfo{ID: id, State: JobQueued, Spec: spec}}
	q.order = append(q.order, id)
	q.requeueLocked(id)
	return id
}

// tryLease leases the next queued job, or answers the channel to wait on.
func (q *workQueue) tryLease(agentID string) (*Lease, <-chan struct{}) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sweepLocked()
	if len(q.queue) == 0 {
		return nil, q.notify
	}
	j := q.jobs[q.queue[0]]
	q.queue = q.queue[1:]
	j.State = JobLeased
	j.Leases++
	l := &LeaseInfo{LeaseID: "lease-" + randomHex(8), JobID: j.ID, AgentID: agentID, ExpiresAt: q.now().Add(q.duration), State: LeaseActive}
	q.leases[l.LeaseID] = l
	q.lorder = append(q.lorder, l.LeaseID)
	return q.leaseLocked(l), nil
}

func (q *workQueue) leaseLocked(l *LeaseInfo) *Lease {
	return &Lease{
		LeaseID: l.LeaseID, JobID: l.JobID, ExpiresAt: l.ExpiresAt,
		DurationSeconds: int(q.duration / time.Second), Spec: q.jobs[l.JobID].Spec,
	}
}

// poll waits up to wait for a job. It rechecks periodically because leases
// expire by the clock, not by an event.
func (q *workQueue) poll(ctx context.Context, closing <-chan struct{}, agentID string, wait time.Duration) *Lease {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		l, ch := q.tryLease(agentID)
		if l != nil {
			return l
		}
		select {
		case <-ch:
		case <-tick.C:
		case <-deadline.C:
			return nil
		case <-ctx.Done():
			return nil
		case <-closing:
			return nil
		}
	}
}

// errLease is a lease operation's refusal; status is the HTTP answer.
type errLease struct {
	status int
	code   string
	msg    string
}

func (e *errLease) Error() string { return e.msg }

func leaseNotFound(id string) error {
	return &errLease{404, "not_found", fmt.Sprintf("unknown lease %q", id)}
}

func leaseLost(l *LeaseInfo) error {
	return &errLease{409, "lease_lost", fmt.Sprintf("lease %s of job %s is %s; stop the job and do not report its result", l.LeaseID, l.JobID, l.State)}
}

func (q *workQueue) renew(id string) (*Lease, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sweepLocked()
	l, ok := q.leases[id]
	if !ok {
		return nil, leaseNotFound(id)
	}
	if l.State != LeaseActive {
		return nil, leaseLost(l)
	}
	l.ExpiresAt = q.now().Add(q.duration)
	return q.leaseLocked(l), nil
}

// release gives an active lease's job back to the queue. Releasing twice,
// or after a terminal status, changes nothing; an expired lease is lost.
func (q *workQueue) release(id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sweepLocked()
	l, ok := q.leases[id]
	if !ok {
		return leaseNotFound(id)
	}
	switch l.State {
	case LeaseActive:
		l.State = LeaseReleased
		q.requeueLocked(l.JobID)
		return nil
	case LeaseExpired:
		return leaseLost(l)
	}
	return nil
}

// ExpireLease ends a lease now as if the agent stopped renewing it; its
// job goes back to the queue.
func (s *Server) ExpireLease(leaseID string) error {
	q := s.work
	q.mu.Lock()
	defer q.mu.Unlock()
	l, ok := q.leases[leaseID]
	if !ok {
		return leaseNotFound(leaseID)
	}
	if l.State != LeaseActive {
		return &errLease{409, "conflict", fmt.Sprintf("lease %s is %s, not active", leaseID, l.State)}
	}
	l.State = LeaseExpired
	q.requeueLocked(l.JobID)
	return nil
}

// Enqueue queues a job with spec (any JSON object) and answers its id.
func (s *Server) Enqueue(spec any) (string, error) {
	raw, err := json.Marshal(spec)
	if err != nil {
		return "", fmt.Errorf("controlplane: encode job spec: %w", err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return "", errors.New("controlplane: a job spec must be a JSON object")
	}
	return s.work.enqueue(raw), nil
}

// Leases lists every lease ever granted, oldest first.
func (s *Server) Leases() []LeaseInfo {
	q := s.work
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sweepLocked()
	out := make([]LeaseInfo, 0, len(q.lorder))
	for _, id := range q.lorder {
		out = append(out, *q.leases[id])
	}
	return out
}

// Job answers a job's state, and whether it exists.
func (s *Server) Job(jobID string) (JobInfo, bool) {
	q := s.work
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sweepLocked()
	j, ok := q.jobs[jobID]
	if !ok {
		return JobInfo{}, false
	}
	return j.JobInfo, true
}

// Jobs lists every job, oldest first.
func (s *Server) Jobs() []JobInfo {
	q := s.work
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sweepLocked()
	out := make([]JobInfo, 0, len(q.order))
	for _, id := range q.order {
		out = append(out, q.jobs[id].JobInfo)
	}
	return out
}

func (q *workQueue) hasJob(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, ok := q.jobs[id]
	return ok
}
