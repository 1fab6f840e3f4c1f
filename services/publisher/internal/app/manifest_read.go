package app

import (
	"context"
	"fmt"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// Manifest returns the job's manifest.json as written: from the first
// destination of a finalized job that can be read back (a JobFileStore,
// such as the control plane, cannot), else from the default destination
// and prefix. No manifest is errkind.NotFound.
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
		ref, ok := s.readableManifest(rec.Finalized.Manifests)
		if !ok {
			return nil, errkind.New(errkind.NotFound, fmt.Sprintf("job %s's manifest was sent only to destination %s, which cannot be read back: read it there",
				id, rec.Finalized.Manifests[0].Binding))
		}
		binding, key = ref.Binding, ref.Key
	}
	store, err := s.dest(binding)
	if err != nil {
		return nil, fmt.Errorf("read the manifest of job %s: %w", id, err)
	}
	data, err := store.Get(ctx, key)
	if errkind.Of(err) == errkind.NotFound || (err == nil && len(data) == 0) {
		return nil, errkind.New(errkind.NotFound, fmt.Sprintf("job %s has no manifest at %s in %s: it is not finalized (yet)", id, key, binding))
	}
	if err != nil {
		return nil, fmt.Errorf("read the manifest of job %s: %w", id, err)
	}
	return data, nil
}

// readableManifest is the first manifest written to a store that can be
// read back.
func (s *Service) readableManifest(refs []job.ManifestRef) (job.ManifestRef, bool) {
	for _, ref := range refs {
		store, err := s.dest(ref.Binding)
		if err != nil {
			continue
		}
		if _, writeOnly := store.(JobFileStore); !writeOnly {
			return ref, true
		}
	}
	return job.ManifestRef{}, false
}
