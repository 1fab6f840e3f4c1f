package job

import (
	"fmt"
	"time"

	"github.com/secure-agent/secure-agent/libs/model"
)

// Topics of the job pipeline (streams are created by whoever runs the
// broker; see deploy/local/stack/broker.go and the pubsub components).
const (
	TopicExtractRequests = "extract-requests" // orchestrator → extractor
	TopicBatchReady      = "batch-ready"      // extractor → publisher
	TopicPartitionDone   = "partition-done"   // extractor → publisher, orchestrator
	TopicPublishDone     = "publish-done"     // publisher → orchestrator
	TopicDeadLetter      = "deadletter"       // undecodable or invalid messages, from any subscriber
	TopicJobLogs         = "job-logs"         // every app → health, which ships them to the control plane
)

// Partition is one unit of extraction: a database, or a group of its
// schemas. ID is stable for the job: "p000", "p001", ...
type Partition struct {
	ID       string   `json:"id"`
	Database string   `json:"database"`
	Schemas  []string `json:"schemas,omitempty"` // empty: the whole database
	// Range, set with exactly one schema, is the range of its tables this
	// partition holds: one of the partitions of a schema too big for one.
	Range  *model.TableRange `json:"range,omitempty"`
	Tables int               `json:"tables,omitempty"` // planned table count (a hint for progress)
}

// ExtractRequest asks an extractor to extract one partition. Attempt
// counts the orchestrator's tries (1-based); a redelivered message repeats
// the same attempt.
type ExtractRequest struct {
	JobID       string    `json:"job_id"`
	Partition   Partition `json:"partition"`
	Attempt     int       `json:"attempt"`
	Spec        Spec      `json:"spec"`
	ExtractedAt time.Time `json:"extracted_at"` // the job's start, written into every row
}

// BatchReady is published by the extractor for every staged file. Run
// identifies one extraction run of the partition (a redelivery or retry
// starts a new run); Seq numbers the run's files per kind from 0.
type BatchReady struct {
	JobID     string     `json:"job_id"`
	Partition string     `json:"partition"`
	Run       string     `json:"run"`
	Kind      model.Kind `json:"kind"`
	Seq       int        `json:"seq"`
	Key       string     `json:"key"` // staging object key
	SHA256    string     `json:"sha256"`
	Bytes     int64      `json:"bytes"`
	Rows      int64      `json:"rows"`
}

// PartitionDone ends one extraction run. On success Files lists every file
// of the run (the publisher needs nothing else to finish the partition,
// whatever order batch events arrive in); on failure Error says why.
type PartitionDone struct {
	JobID     string               `json:"job_id"`
	Partition string               `json:"partition"`
	Attempt   int                  `json:"attempt"`
	Run       string               `json:"run"`
	OK        bool                 `json:"ok"`
	Error     string               `json:"error,omitempty"`
	Retryable bool                 `json:"retryable,omitempty"`
	Files     []BatchReady         `json:"files,omitempty"`
	Rows      map[model.Kind]int64 `json:"rows,omitempty"`
	Queries   int                  `json:"queries,omitempty"`
	Elapsed   Duration             `json:"elapsed,omitzero"`
	// Database and Schemas repeat the request's partition, and Destinations
	// the spec's destinations, so the publisher can upload and describe the
	// partition in the manifest without the job spec (empty Destinations:
	// the default destination).
	Database     string            `json:"database,omitempty"`
	Schemas      []string          `json:"schemas,omitempty"`
	Range        *model.TableRange `json:"range,omitempty"`
	Destinations []Destination     `json:"destinations,omitempty"`
	// Connection, Mode and DryRun repeat the spec's, so the publisher can
	// compare the partition with the connection's catalog state (ADR 0015).
	Connection string `json:"connection,omitempty"`
	Mode       string `json:"mode,omitempty"`
	DryRun     bool   `json:"dry_run,omitempty"`
}

// PublishDone is the publisher's answer for one partition: its files are
// verified, compacted and uploaded (OK), or it failed (for example a
// sha256 mismatch) and nothing of it was uploaded.
type PublishDone struct {
	JobID     string               `json:"job_id"`
	Partition string               `json:"partition"`
	Run       string               `json:"run"`
	OK        bool                 `json:"ok"`
	Error     string               `json:"error,omitempty"`
	Files     []model.FileInfo     `json:"files,omitempty"` // uploaded, names relative to the job's directory
	Rows      map[model.Kind]int64 `json:"rows,omitempty"`
}

// StagingKey is the staging object key of one staged file:
// jobs/{job}/{partition}/{run}/{kind}-{seq}.arrows.
func StagingKey(jobID, partition, run string, kind model.Kind, seq int) string {
	return fmt.Sprintf("jobs/%s/%s/%s/%s-%06d.arrows", jobID, partition, run, kind, seq)
}

// StagingPrefix is the staging folder of a job, deleted once it is done.
func StagingPrefix(jobID string) string { return "jobs/" + jobID }

// UploadName is the name of an upload file inside the job's directory:
// {partition}/{kind}-{n}.arrows. It is deterministic, so a publisher that
// restarts rewrites the same objects instead of adding new ones.
func UploadName(partition string, kind model.Kind, n int) string {
	return fmt.Sprintf("%s/%s-%03d.arrows", partition, kind, n)
}

// JobDir is the job's folder under a destination's prefix.
func JobDir(prefix, jobID string) string { return prefix + "/" + jobID }
