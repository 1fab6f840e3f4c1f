package app

import (
	"encoding/json"
	"time"

	"github.com/secure-agent/secure-agent/libs/job"
)

// RunState is the workflow engine's view of a job's workflow instance.
type RunState string

const (
	RunPending    RunState = "pending"
	RunRunning    RunState = "running"
	RunSuspended  RunState = "suspended"
	RunCompleted  RunState = "completed"
	RunFailed     RunState = "failed"
	RunTerminated RunState = "terminated"
	RunUnknown    RunState = "unknown"
)

// Run is one workflow instance as the engine reports it.
type Run struct {
	Found        bool
	State        RunState
	Input        string // WorkflowInput as JSON
	CustomStatus string // job.Status as JSON, set by the workflow on every change
	Output       string // the final job.Status as JSON
	Failure      string // the error of a failed workflow
	UpdatedAt    time.Time
}

// Finished reports whether the instance will never process another event.
func (r Run) Finished() bool {
	return r.State == RunCompleted || r.State == RunFailed || r.State == RunTerminated
}

// JobStatus is the job's status as its workflow last reported it. A
// workflow that failed outside the job's own logic (a bug, an engine
// error) or was terminated shows as failed with the reason.
func (r Run) JobStatus() job.Status {
	var st job.Status
	var in WorkflowInput
	if json.Unmarshal([]byte(r.Input), &in) == nil {
		st = job.Status{
			ID: in.JobID, Name: in.Spec.Name, Connection: in.Spec.Connection,
			SourceKind: in.Spec.Source.Kind, SubmittedAt: in.SubmittedAt,
		}
	}
	st.State = job.Pending
	overlay := func(s string) {
		var v job.Status
		if s != "" && json.Unmarshal([]byte(s), &v) == nil && v.State != "" {
			st = v
		}
	}
	overlay(r.CustomStatus)
	if r.State == RunCompleted {
		overlay(r.Output)
	}
	switch r.State {
	case RunFailed:
		st.State = job.Failed
		msg := r.Failure
		if msg == "" {
			msg = "the job's workflow failed without a reason"
		}
		st.Errors = append(st.Errors, "workflow failed: "+msg)
	case RunTerminated:
		st.State = job.Failed
		st.Errors = append(st.Errors, "the job's workflow was terminated outside the orchestrator; its cleanup did not run")
	}
	if (r.State == RunFailed || r.State == RunTerminated) && st.FinishedAt == nil && !r.UpdatedAt.IsZero() {
		t := r.UpdatedAt
		st.FinishedAt = &t
	}
	return st
}
