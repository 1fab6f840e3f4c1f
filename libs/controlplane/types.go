package controlplane

import (
	"encoding/json"
	"time"
)

// Lease is a job leased to this agent until ExpiresAt (schema Lease).
type Lease struct {
	LeaseID         string          `json:"lease_id"`
	JobID           string          `json:"job_id"`
	ExpiresAt       time.Time       `json:"expires_at"`
	DurationSeconds int             `json:"duration_seconds,omitempty"`
	Spec            json.RawMessage `json:"spec"`
}

// State is a job state reported to the control plane.
type State string

// The states of StatusReport, in the order the protocol allows.
const (
	StateAccepted  State = "accepted"
	StateRunning   State = "running"
	StateSucceeded State = "succeeded"
	StateFailed    State = "failed"
	StateCancelled State = "cancelled"
)

// StatusReport is one job status transition (schema StatusReport).
type StatusReport struct {
	State          State            `json:"state"`
	At             time.Time        `json:"at"`
	Assets         int64            `json:"assets,omitempty"`
	Rows           map[string]int64 `json:"rows,omitempty"`
	Errors         []string         `json:"errors,omitempty"`
	ManifestSHA256 string           `json:"manifest_sha256,omitempty"`
}

// AgentStatus is the agent's overall health in a Heartbeat.
type AgentStatus string

// The values of Heartbeat.Status.
const (
	AgentOK       AgentStatus = "ok"
	AgentDegraded AgentStatus = "degraded"
	AgentDown     AgentStatus = "down"
)

// AppHealth is one service's readiness in a Heartbeat.
type AppHealth struct {
	Ready bool   `json:"ready"`
	Error string `json:"error,omitempty"`
}

// LastJob is the most recently finished job in a Heartbeat.
type LastJob struct {
	JobID      string    `json:"job_id,omitempty"`
	State      State     `json:"state,omitempty"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Heartbeat says the agent is alive and how healthy it is (schema Heartbeat).
type Heartbeat struct {
	AgentID     string               `json:"agent_id"`
	Version     string               `json:"version"`
	At          time.Time            `json:"at"`
	Status      AgentStatus          `json:"status"`
	Apps        map[string]AppHealth `json:"apps,omitempty"`
	JobsRunning int                  `json:"jobs_running"`
	LastJob     *LastJob             `json:"last_job,omitempty"`
}

// LogLine is one line of an uploaded log batch (schema LogLine); UploadLogs
// takes the batch already encoded as gzip-compressed NDJSON of these.
type LogLine struct {
	TS      time.Time      `json:"ts"`
	Level   string         `json:"level"`
	Service string         `json:"service,omitempty"`
	Msg     string         `json:"msg"`
	Fields  map[string]any `json:"fields,omitempty"`
}

// apiError is the body of every error answer (schema Error).
type apiError struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
		// KnownSize is the witness's latest cosigned size of an audit log
		// (a 409 to POST /audit/checkpoints).
		KnownSize *uint64 `json:"known_size,omitempty"`
	} `json:"error"`
}

type releaseBody struct {
	Reason string `json:"reason,omitempty"`
}
