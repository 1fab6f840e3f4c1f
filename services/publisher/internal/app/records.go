package app

import (
	"fmt"
	"time"

	"github.com/secure-agent/secure-agent/libs/changeset"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// BatchRecord is the outcome of checking one staged file when its
// BatchReady arrived. SHA256 is the announced checksum: a record is reused
// at partition-done only for the same announcement.
type BatchRecord struct {
	SHA256       string    `json:"sha256"`
	ActualSHA256 string    `json:"actual_sha256,omitempty"`
	Rows         int64     `json:"rows"`
	Verified     bool      `json:"verified"`
	Error        string    `json:"error,omitempty"`
	CheckedAt    time.Time `json:"checked_at"`
}

// PublishRecord is a published partition: the run whose files were
// uploaded and the upload files, named relative to the job's directory.
type PublishRecord struct {
	Run          string               `json:"run"`
	Database     string               `json:"database,omitempty"`
	Schemas      []string             `json:"schemas,omitempty"`
	Range        *model.TableRange    `json:"range,omitempty"`
	Destinations []job.Destination    `json:"destinations"`
	Files        []model.FileInfo     `json:"files"`
	Rows         map[model.Kind]int64 `json:"rows"`
	PublishedAt  time.Time            `json:"published_at"`
	// Digests are the partition's asset digests in staging (nil for a
	// run without a connection to compare with).
	Digests *StagedDigests `json:"digests,omitempty"`
	// Extracted are the run's rows per kind when only some of them were
	// uploaded (an incremental run): publish-done reports these, so the
	// job's status counts the assets read, not the assets shipped.
	Extracted map[model.Kind]int64 `json:"extracted,omitempty"`
}

// StagedDigests locate a partition run's digests in staging: sorted runs
// (ADR 0018), or the one snapshot file an older publisher staged them in
// (Key).
type StagedDigests struct {
	Runs    []changeset.RunRef `json:"runs,omitempty"`
	Key     string             `json:"key,omitempty"`
	SHA256  string             `json:"sha256,omitempty"`
	Entries int                `json:"entries"`
}

// JobState is the publisher's view of a job that will not change again.
type JobState string

const (
	JobCancelled JobState = "cancelled"
	JobFinalized JobState = "finalized"
)

// JobRecord exists once a job is cancelled or finalized. Finalized is the
// answer repeated to every later finalize call.
type JobRecord struct {
	State     JobState       `json:"state"`
	Finalized *job.Finalized `json:"finalized,omitempty"`
	At        time.Time      `json:"at"`
}

func batchKey(b job.BatchReady) string {
	return fmt.Sprintf("batch/%s/%s/%s/%s/%d", b.JobID, b.Partition, b.Run, b.Kind, b.Seq)
}

func publishKey(jobID, partition string) string { return "publish/" + jobID + "/" + partition }

func jobKey(jobID string) string { return "job/" + jobID }

// publishDone is the event a publish record answers with.
func (r PublishRecord) publishDone(jobID, partition string) job.PublishDone {
	rows := r.Rows
	if r.Extracted != nil {
		rows = r.Extracted
	}
	return job.PublishDone{JobID: jobID, Partition: partition, Run: r.Run, OK: true, Files: r.Files, Rows: rows}
}
