// Package app holds the orchestrator's use cases: accepting jobs, the job
// workflow (a pure state machine driven by a thin Dapr Workflow shell), its
// activities, and forwarding pipeline events into running workflows. Every
// dependency is a small interface declared where it is used; the adapters
// package implements them over Dapr.
package app
