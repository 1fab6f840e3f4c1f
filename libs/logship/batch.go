package logship

import (
	"context"
	"encoding/json"

	"github.com/secure-agent/secure-agent/libs/controlplane"
)

// Batch is one job-logs event: log lines of one job written by one service,
// oldest first, already redacted.
type Batch struct {
	Service string                 `json:"service"`
	JobID   string                 `json:"job_id"`
	Lines   []controlplane.LogLine `json:"lines,omitempty"`
	// Dropped counts the job's lines this service lost since its previous
	// batch (buffer full, or a batch that could not be published).
	Dropped int `json:"dropped,omitempty"`
}

// Publisher sends one event; libs/pubsub's Publisher fits.
type Publisher interface {
	Publish(ctx context.Context, topic string, v any) error
}

// wireBatch is Batch as published: the lines were encoded once, when they
// were logged, so nothing the caller still holds is read later.
type wireBatch struct {
	Service string            `json:"service"`
	JobID   string            `json:"job_id"`
	Lines   []json.RawMessage `json:"lines,omitempty"`
	Dropped int               `json:"dropped,omitempty"`
}
