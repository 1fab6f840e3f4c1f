package app

import (
	"context"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// The outside world as the use cases see it; adapters (and
// connector.Registry, *objectstore.Store, *pubsub.Publisher) implement
// these.

// ConnectorOpener opens a source connector; connector.Registry is one.
type ConnectorOpener interface {
	Open(ctx context.Context, src connector.Source, creds connector.Credentials) (connector.Connector, error)
}

// CredentialSource turns a job's password reference (nil: no password)
// into credentials read just in time.
type CredentialSource interface {
	For(ref *job.SecretRef) (connector.Credentials, error)
}

// ObjectPutter writes a staged file.
type ObjectPutter interface {
	Put(ctx context.Context, key string, data []byte) error
}

// EventPublisher publishes a JSON event to a topic.
type EventPublisher interface {
	Publish(ctx context.Context, topic string, v any) error
}

// RecordStore keeps the records of finished runs.
type RecordStore interface {
	LoadRecord(ctx context.Context, key string) (Record, bool, error)
	SaveRecord(ctx context.Context, key string, r Record) error
}
