// Package logship carries a job's log lines from the service that logs them
// to the health service, which uploads them to the control plane.
//
// A Shipper's Core is teed next to the service's own log core: it keeps only
// entries carrying a string field job_id (attached with With or on the
// entry), redacts them exactly as the service's log output is redacted, and
// puts them in a bounded in-memory buffer. Writing never waits: when the
// buffer is full the line is dropped and counted. Run publishes the buffer
// every interval as job-logs events (one Batch per job and message), and
// Flush does so once more on shutdown. A publish that fails drops its batch;
// the lost lines are counted in the metrics and in the job's next Batch, so
// the control plane learns how many lines it will never see.
package logship
