// Package app holds the extractor's use cases: preflight (checks and the
// partition plan of a job) and the extraction of one partition as an
// exactly-accounted run (ADR 0007 "Runs"). Dapr stays behind the small
// interfaces declared where they are used; adapters implement them.
package app
