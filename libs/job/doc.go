// Package job is the contract between the services of one job: the job
// spec users submit, the events that cross the broker, the object keys of
// staged and uploaded files, and the job status the orchestrator serves.
// Every service and agentctl import it, so a change here is a protocol
// change: keep fields additive.
package job
