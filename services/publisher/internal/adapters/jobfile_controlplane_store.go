package adapters

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/logging"
	"github.com/secure-agent/secure-agent/libs/metricdef"
	"github.com/secure-agent/secure-agent/libs/model"
)

// IngestClient is the slice of the control-plane client
// (libs/controlplane.Client) a ControlPlaneStore needs.
type IngestClient interface {
	HasFile(ctx context.Context, jobID, sha string) (bool, error)
	IngestFile(ctx context.Context, jobID, sha, name, kind string, rows int64, body []byte) (string, error)
	IngestManifest(ctx context.Context, jobID string, manifest []byte) error
}

// ControlPlaneStore uploads a job's files through the control plane's
// ingest API, which keeps them by job and sha256. A file the control plane
// already has is not sent again: a partition redelivered after a failed
// upload sends only what is missing, because compaction gives the same
// files the same sha256.
type ControlPlaneStore struct {
	client IngestClient
	log    *zap.Logger
	files  *prometheus.CounterVec // result: ingested, skipped
}

// NewControlPlaneStore registers the store's metrics on reg (may be nil).
func NewControlPlaneStore(client IngestClient, log *zap.Logger, reg prometheus.Registerer) (*ControlPlaneStore, error) {
	if log == nil {
		log = zap.NewNop()
	}
	files := metricdef.PublisherControlPlaneFiles.CounterVec()
	for _, r := range []string{"ingested", "skipped"} {
		files.WithLabelValues(r)
	}
	if err := metricdef.Register(reg, files); err != nil {
		return nil, fmt.Errorf("publisher control-plane destination: %w", err)
	}
	return &ControlPlaneStore{client: client, log: log, files: files}, nil
}

// PutJobFile implements app.JobFileStore.
func (c *ControlPlaneStore) PutJobFile(ctx context.Context, jobID string, info model.FileInfo, data []byte) (string, error) {
	has, err := c.client.HasFile(ctx, jobID, info.SHA256)
	if err != nil {
		return "", fmt.Errorf("ask the control plane whether job %s has %s: %w", jobID, info.Name, err)
	}
	if has {
		c.files.WithLabelValues("skipped").Inc()
		logging.WithTrace(ctx, c.log).Debug("control plane already has the file; not sent again",
			zap.String("job_id", jobID), zap.String("file", info.Name), zap.String("sha256", info.SHA256))
		return "", nil
	}
	receipt, err := c.client.IngestFile(ctx, jobID, info.SHA256, info.Name, string(info.Kind), info.Rows, data)
	if err != nil {
		return "", fmt.Errorf("send %s of job %s to the control plane: %w", info.Name, jobID, err)
	}
	c.files.WithLabelValues("ingested").Inc()
	return receipt, nil
}

// PutJobManifest implements app.JobFileStore. The control plane refuses a
// manifest listing a file it lacks, so it is sent after every file.
func (c *ControlPlaneStore) PutJobManifest(ctx context.Context, jobID string, manifest []byte) error {
	if err := c.client.IngestManifest(ctx, jobID, manifest); err != nil {
		return fmt.Errorf("send the manifest of job %s to the control plane: %w", jobID, err)
	}
	return nil
}

// Put refuses writes by object key: the control plane takes a job's files
// with their job, name, kind, rows and sha256 (PutJobFile).
func (c *ControlPlaneStore) Put(_ context.Context, key string, _ []byte) error {
	return errkind.New(errkind.Internal, fmt.Sprintf("the control plane takes job files through PutJobFile, not object %s; this is a bug in the publisher", key))
}

// Get answers NotFound: the ingest API cannot be read back.
func (c *ControlPlaneStore) Get(_ context.Context, key string) ([]byte, error) {
	return nil, errkind.New(errkind.NotFound, fmt.Sprintf("%s cannot be read back from the control plane's ingest API; read it in the control plane", key))
}
