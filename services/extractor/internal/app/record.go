package app

import (
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// Record is what the state store keeps of a finished run of a partition,
// under RecordKey: everything needed to announce the run again.
type Record struct {
	Run     string               `json:"run"`
	Attempt int                  `json:"attempt"`
	Files   []job.BatchReady     `json:"files"`
	Rows    map[model.Kind]int64 `json:"rows"`
	Queries int                  `json:"queries"`
	Elapsed job.Duration         `json:"elapsed"`
}

// RecordKey is the state key of a partition's finished run.
func RecordKey(jobID, partition string) string { return "extract/" + jobID + "/" + partition }

// done is the PartitionDone announcing the record, for the request that
// asked: a request of a later attempt answered from the record must carry
// that attempt, or the orchestrator would ignore it as stale. It carries
// what the publisher needs to finish the partition without the spec: the
// partition's database and schemas (for the manifest) and the destinations.
func (r Record) done(req job.ExtractRequest) job.PartitionDone {
	return job.PartitionDone{
		JobID: req.JobID, Partition: req.Partition.ID, Attempt: req.Attempt, Run: r.Run, OK: true,
		Files: r.Files, Rows: r.Rows, Queries: r.Queries, Elapsed: r.Elapsed,
		Database: req.Partition.Database, Schemas: req.Partition.Schemas, Range: req.Partition.Range, Destinations: req.Spec.Destinations,
		Connection: req.Spec.Connection, Mode: req.Spec.Mode, DryRun: req.Spec.DryRun,
	}
}

// rowsOf sums the files' rows per kind.
func rowsOf(files []job.BatchReady) map[model.Kind]int64 {
	rows := map[model.Kind]int64{}
	for _, f := range files {
		rows[f.Kind] += f.Rows
	}
	return rows
}
