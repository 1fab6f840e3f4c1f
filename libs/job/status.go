package job

import (
	"time"

	"github.com/secure-agent/secure-agent/libs/changeset"
	"github.com/secure-agent/secure-agent/libs/model"
)

// State of a job or partition.
type State string

const (
	Pending    State = "pending"
	Running    State = "running"
	Extracting State = "extracting"
	Extracted  State = "extracted"
	Succeeded  State = "succeeded"
	Failed     State = "failed"
	Cancelled  State = "cancelled"
)

// Terminal reports whether no further change will happen.
func (s State) Terminal() bool { return s == Succeeded || s == Failed || s == Cancelled }

// Status is what GET /v1/jobs/{id} answers.
type Status struct {
	ID          string               `json:"id"`
	Name        string               `json:"name,omitempty"`
	Connection  string               `json:"connection"`
	SourceKind  string               `json:"source_kind"`
	State       State                `json:"state"`
	Phase       string               `json:"phase,omitempty"` // preflight, extract, finalize
	SubmittedAt time.Time            `json:"submitted_at"`
	StartedAt   *time.Time           `json:"started_at,omitempty"`
	FinishedAt  *time.Time           `json:"finished_at,omitempty"`
	Partitions  []PartitionStatus    `json:"partitions,omitempty"`
	Rows        map[model.Kind]int64 `json:"rows,omitempty"` // extracted so far, by kind
	Assets      int64                `json:"assets"`         // sum of Rows
	Errors      []string             `json:"errors,omitempty"`
	// Warnings are the preflight's warnings, one line per check with what
	// to do: a filter that matched nothing (allowed by allow_empty_match),
	// a database skipped, lineage the source cannot give.
	Warnings []string     `json:"warnings,omitempty"`
	Manifest *ManifestRef `json:"manifest,omitempty"`
	// Mode, Changes and DryRun say what a finished run did to the catalog
	// (ADR 0015); the fail-safes that withheld deletions are Warnings.
	Mode    string                            `json:"mode,omitempty"`
	Changes map[model.Kind]model.ChangeCounts `json:"changes,omitempty"`
	DryRun  bool                              `json:"dry_run,omitempty"`
}

// PartitionStatus is one partition's progress.
type PartitionStatus struct {
	Partition
	State    State                `json:"state"`
	Attempts int                  `json:"attempts"`
	Rows     map[model.Kind]int64 `json:"rows,omitempty"`
	Error    string               `json:"error,omitempty"`
}

// ManifestRef says where a finished job's manifest is.
type ManifestRef struct {
	Binding string `json:"binding"`
	Key     string `json:"key"`
	Files   int    `json:"files"`
	Bytes   int64  `json:"bytes"`
	SHA256  string `json:"sha256,omitempty"` // of the manifest file itself
}

// Submitted is the answer to POST /v1/jobs.
type Submitted struct {
	ID    string `json:"id"`
	State State  `json:"state"`
}

// List is the answer to GET /v1/jobs (newest first).
type List struct {
	Jobs []Status `json:"jobs"`
}

// Preflight is the extractor's answer to POST /v1/preflight: the checks
// and, when they pass, the partitions the job splits into.
type Preflight struct {
	OK         bool        `json:"ok"`
	Checks     []Check     `json:"checks"`
	Partitions []Partition `json:"partitions,omitempty"`
	// Listing is what the source showed the agent's user: the publisher
	// judges the run's deletions by it (ADR 0015). Nil when the connector
	// could not read it: the run then deletes nothing.
	Listing *changeset.Listing `json:"listing,omitempty"`
}

// Check mirrors connector.Check for the wire.
type Check struct {
	Name        string `json:"name"`
	Status      string `json:"status"` // pass, warn, fail
	Detail      string `json:"detail"`
	Remediation string `json:"remediation,omitempty"`
}

// FinalizeRequest asks the publisher to write the manifest of a job whose
// partitions all published (POST /v1/jobs/{id}/finalize).
type FinalizeRequest struct {
	JobID      string    `json:"job_id"`
	Spec       Spec      `json:"spec"`
	Partitions []string  `json:"partitions"`
	StartedAt  time.Time `json:"started_at"`
	Queries    int       `json:"queries"`
	// Listing is the preflight's: what the source showed the agent's user
	// (nil: unknown, so the run deletes nothing).
	Listing *changeset.Listing `json:"listing,omitempty"`
}

// Finalized is the publisher's answer: the manifest's location and size.
type Finalized struct {
	Manifests []ManifestRef        `json:"manifests"`
	Rows      map[model.Kind]int64 `json:"rows"`
	// Mode is how the run shipped (model.ModeFull, model.ModeIncremental);
	// empty for a job without a connection to compare with.
	Mode string `json:"mode,omitempty"`
	// Changes counts what the run changed in the catalog, per asset kind.
	Changes map[model.Kind]model.ChangeCounts `json:"changes,omitempty"`
	// FailSafes withheld deletions; each is a warning of the job.
	FailSafes []model.FailSafe `json:"fail_safes,omitempty"`
	// Warnings are other things the user should know (a run asked to be
	// incremental that shipped in full, and why).
	Warnings []string `json:"warnings,omitempty"`
	// DryRun: nothing was uploaded; the plan is at GET /v1/jobs/{id}/plan.
	DryRun bool `json:"dry_run,omitempty"`
}

// Plan is a dry run's change set: what the run would have done to the
// catalog (GET /v1/jobs/{id}/plan).
type Plan struct {
	JobID      string                            `json:"job_id"`
	Connection string                            `json:"connection"`
	Mode       string                            `json:"mode"`
	Base       string                            `json:"base,omitempty"` // the job whose state it compares with
	Changes    map[model.Kind]model.ChangeCounts `json:"changes"`
	FailSafes  []model.FailSafe                  `json:"fail_safes,omitempty"`
	Warnings   []string                          `json:"warnings,omitempty"`
	// Items are the created, updated and deleted assets, sorted by
	// qualified name and kind (unchanged ones are only counted).
	Items []PlanItem `json:"items"`
}

// PlanItem is one change of a plan.
type PlanItem struct {
	Op            string     `json:"op"` // created, updated, deleted
	Kind          model.Kind `json:"kind"`
	QualifiedName string     `json:"qualified_name"`
	// Attributes that changed (updated).
	Attributes []string `json:"attributes,omitempty"`
	// Reason of a deletion: dropped, excluded, not_visible.
	Reason string `json:"reason,omitempty"`
}
