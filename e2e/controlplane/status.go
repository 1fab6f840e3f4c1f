package controlplane

import (
	"fmt"
	"time"
)

// StatusReport is the protocol's StatusReport schema.
type StatusReport struct {
	State          string           `json:"state"`
	At             time.Time        `json:"at"`
	Assets         *int64           `json:"assets,omitempty"`
	Rows           map[string]int64 `json:"rows,omitempty"`
	Errors         []string         `json:"errors,omitempty"`
	ManifestSHA256 string           `json:"manifest_sha256,omitempty"`
}

// StatusRecord is one recorded transition.
type StatusRecord struct {
	LeaseID string       `json:"lease_id"`
	Report  StatusReport `json:"report"`
}

// stateRank orders accepted → running → terminal. The doc's chain allows
// forward jumps (a job that fails preflight goes accepted → failed).
var stateRank = map[string]int{"accepted": 1, "running": 2, "succeeded": 3, "failed": 3, "cancelled": 3}

const terminalRank = 3

// report records a transition under an active lease. Repeating the
// lease's current state is a no-op (recorded false); going backwards, or
// from one terminal state to another, is a conflict.
func (q *workQueue) report(leaseID string, r StatusReport) (recorded bool, err error) {
	rank, ok := stateRank[r.State]
	if !ok {
		return false, &errLease{400, "invalid_request", fmt.Sprintf("unknown state %q (use accepted, running, succeeded, failed or cancelled)", r.State)}
	}
	if r.At.IsZero() {
		return false, &errLease{400, "invalid_request", "set at, the time of the transition"}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sweepLocked()
	l, ok := q.leases[leaseID]
	if !ok {
		return false, leaseNotFound(leaseID)
	}
	if l.State == LeaseExpired || l.State == LeaseReleased {
		return false, leaseLost(l)
	}
	if r.State == l.Status {
		return false, nil
	}
	if l.State != LeaseActive {
		return false, &errLease{409, "conflict", fmt.Sprintf("job %s is already %s; it cannot become %s", l.JobID, l.Status, r.State)}
	}
	if cur := stateRank[l.Status]; rank <= cur {
		return false, &errLease{409, "conflict", fmt.Sprintf("job %s is already %s; it cannot become %s", l.JobID, l.Status, r.State)}
	}
	l.Status = r.State
	j := q.jobs[l.JobID]
	j.statuses = append(j.statuses, StatusRecord{LeaseID: leaseID, Report: r})
	if rank == terminalRank {
		l.State = LeaseFinished
		j.State = r.State
	}
	return true, nil
}

// Statuses lists a job's recorded transitions, over all its leases.
func (s *Server) Statuses(jobID string) []StatusRecord {
	q := s.work
	q.mu.Lock()
	defer q.mu.Unlock()
	j, ok := q.jobs[jobID]
	if !ok {
		return nil
	}
	return append([]StatusRecord(nil), j.statuses...)
}
