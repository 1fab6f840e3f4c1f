package app

import (
	"context"
	"fmt"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// Manifest returns the job's manifest.json as written: from the first
// destination of a finalized job, else from the default destination and
// prefix. No manifest is errkind.NotFound.
func (s *Service) Manifest(ctx context.Context, id string) ([]byte, error) {
	if err := ValidateJobID(id); err != nil {
		return nil, err
	}
	binding, key := job.DefaultDestination, job.JobDir(job.DefaultPrefix, id)+"/"+model.ManifestFile
	rec, done, err := s.jobRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	switch {
	case done && rec.State == JobCancelled:
		return nil, errkind.New(errkind.NotFound, fmt.Sprintf("job %s was cancelled: it has no manifest", id))
	case done && rec.Finalized != nil && len(rec.Finalized.Manifests) > 0:
		binding, key = rec.Finalized.Manifests[0].Binding, rec.Finalized.Manifests[0].Key
	}
	data, err := s.dest(binding).Get(ctx, key)
	if errkind.Of(err) == errkind.NotFound || (err == nil && len(data) == 0) {
		return nil, errkind.New(errkind.NotFound, fmt.Sprintf("job %s has no manifest at %s in %s: it is not finalized (yet)", id, key, binding))
	}
	if err != nil {
		return nil, fmt.Errorf("read the manifest of job %s: %w", id, err)
	}
	return data, nil
}
