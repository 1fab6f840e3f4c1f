package app

import (
	"context"

	"github.com/secure-agent/secure-agent/libs/model"
)

// RecordStore keeps the publisher's records (JSON documents) by key.
type RecordStore interface {
	// Get decodes the record under key into v and reports whether one exists.
	Get(ctx context.Context, key string, v any) (bool, error)
	Save(ctx context.Context, key string, v any) error
}

// VersionedStore keeps records with optimistic concurrency (etags): the
// catalog-state pointers, the bases jobs compare with and the partition
// claims of the replicas. Save with an empty etag creates the key only if
// it is absent; a lost race is errkind.Conflict.
type VersionedStore interface {
	Load(ctx context.Context, key string, v any) (etag string, found bool, err error)
	Save(ctx context.Context, key string, v any, etag string) error
	Delete(ctx context.Context, key string) error
}

// StagingStore is the object store the extractor stages files in. A
// missing object is errkind.NotFound.
type StagingStore interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, data []byte) error
	List(ctx context.Context, prefix string) ([]string, error)
	Delete(ctx context.Context, key string) error
}

// DestinationStore is one output binding uploads and manifests go to.
type DestinationStore interface {
	Put(ctx context.Context, key string, data []byte) error
	Get(ctx context.Context, key string) ([]byte, error)
}

// JobFileStore is a destination that takes a job's files by job, name,
// kind, rows and sha256 rather than by object key (the control plane's
// ingest API). A DestinationStore that implements it gets every upload
// file and the manifest through it, the manifest last. Both must be safe
// to repeat: a redelivered partition uploads its files again.
type JobFileStore interface {
	// PutJobFile answers the destination's receipt for the file, if it
	// gives one (the audit log records it).
	PutJobFile(ctx context.Context, jobID string, info model.FileInfo, data []byte) (receipt string, err error)
	PutJobManifest(ctx context.Context, jobID string, manifest []byte) error
}

// Destinations opens the destination store of a binding by name. An
// errkind.Invalid error means the binding cannot be used as the publisher
// is configured; it names the fix.
type Destinations func(binding string) (DestinationStore, error)

// EventPublisher sends PublishDone events.
type EventPublisher interface {
	Publish(ctx context.Context, topic string, v any) error
}
