package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// openDest is a destination with its store opened.
type openDest struct {
	job.Destination
	store DestinationStore
}

// openDestinations opens every destination before anything is written, so
// a destination the publisher cannot use stops the work before any file
// reaches another one.
func (s *Service) openDestinations(dests []job.Destination) ([]openDest, error) {
	out := make([]openDest, 0, len(dests))
	for _, d := range dests {
		store, err := s.dest(d.Binding)
		if err != nil {
			return nil, fmt.Errorf("destination %s: %w", d.Binding, err)
		}
		// The destination's series exist from its first use, failures too.
		s.m.files.WithLabelValues(d.Binding)
		s.m.bytes.WithLabelValues(d.Binding)
		s.m.uploadFailures.WithLabelValues(d.Binding)
		out = append(out, openDest{Destination: d, store: store})
	}
	return out, nil
}

// jobAt is the job's id at a JobFileStore destination: the control plane
// names its jobs itself, and the spec carries that id when it differs.
func (d openDest) jobAt(jobID string) string {
	if d.JobID != "" {
		return d.JobID
	}
	return jobID
}

// putFile writes one upload file of the job, named relative to its job
// directory.
func (d openDest) putFile(ctx context.Context, jobID string, info model.FileInfo, data []byte) (receipt string, err error) {
	if jf, ok := d.store.(JobFileStore); ok {
		return jf.PutJobFile(ctx, d.jobAt(jobID), info, data)
	}
	return "", d.store.Put(ctx, job.JobDir(d.Prefix, jobID)+"/"+info.Name, data)
}

// holds reports whether the destination already holds exactly this
// upload file (same sha256): an earlier attempt at the partition wrote it
// before it was cut short. A destination that takes files by job
// (JobFileStore) skips files it has on its own, so it is never asked.
func (d openDest) holds(ctx context.Context, jobID string, info model.FileInfo) bool {
	if _, ok := d.store.(JobFileStore); ok {
		return false
	}
	data, err := d.store.Get(ctx, job.JobDir(d.Prefix, jobID)+"/"+info.Name)
	if err != nil {
		return false // missing or unreadable: upload it
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]) == info.SHA256
}

// manifestKey is the key the job's manifest is found under in the
// destination.
func (d openDest) manifestKey(jobID string) string {
	if _, ok := d.store.(JobFileStore); ok {
		return "jobs/" + d.jobAt(jobID) + "/manifest"
	}
	return job.JobDir(d.Prefix, jobID) + "/" + model.ManifestFile
}

// holdsManifest reports whether the destination already holds exactly
// this manifest (an earlier attempt wrote it). A JobFileStore cannot be
// read back: it is never said to hold it.
func (d openDest) holdsManifest(ctx context.Context, jobID string, data []byte) (string, bool) {
	key := d.manifestKey(jobID)
	if _, ok := d.store.(JobFileStore); ok {
		return key, false
	}
	got, err := d.store.Get(ctx, key)
	return key, err == nil && bytes.Equal(got, data)
}

// putManifest writes the job's manifest and answers the key it is found
// under in the destination.
func (d openDest) putManifest(ctx context.Context, jobID string, data []byte) (string, error) {
	key := d.manifestKey(jobID)
	if jf, ok := d.store.(JobFileStore); ok {
		return key, jf.PutJobManifest(ctx, d.jobAt(jobID), data)
	}
	return key, d.store.Put(ctx, key, data)
}
