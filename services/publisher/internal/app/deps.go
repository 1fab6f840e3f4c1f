package app

import "context"

// RecordStore keeps the publisher's records (JSON documents) by key.
type RecordStore interface {
	// Get decodes the record under key into v and reports whether one exists.
	Get(ctx context.Context, key string, v any) (bool, error)
	Save(ctx context.Context, key string, v any) error
}

// StagingStore is the object store the extractor stages files in. A
// missing object is errkind.NotFound.
type StagingStore interface {
	Get(ctx context.Context, key string) ([]byte, error)
	List(ctx context.Context, prefix string) ([]string, error)
	Delete(ctx context.Context, key string) error
}

// DestinationStore is one output binding uploads and manifests go to.
type DestinationStore interface {
	Put(ctx context.Context, key string, data []byte) error
	Get(ctx context.Context, key string) ([]byte, error)
}

// Destinations opens the destination store of a binding by name.
type Destinations func(binding string) DestinationStore

// EventPublisher sends PublishDone events.
type EventPublisher interface {
	Publish(ctx context.Context, topic string, v any) error
}
