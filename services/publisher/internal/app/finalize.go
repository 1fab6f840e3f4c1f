package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/assetfilter"
	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// Finalize writes the job's manifest to every destination, last, after
// every partition listed is published (their files are uploaded), records
// the job finalized and cleans its staging. It is idempotent: a repeat
// answers the same Finalized without writing anything.
func (s *Service) Finalize(ctx context.Context, id string, req job.FinalizeRequest) (job.Finalized, error) {
	if err := ValidateJobID(id); err != nil {
		return job.Finalized{}, err
	}
	if req.JobID != "" && req.JobID != id {
		return job.Finalized{}, errkind.New(errkind.Invalid, fmt.Sprintf("finalize request is for job %q but was sent for job %q", req.JobID, id))
	}
	if err := checkPartitionList(req.Partitions); err != nil {
		return job.Finalized{}, err
	}
	// One finalize at a time per job: within this replica, and across
	// replicas through the job's finalize claim (the workflow sends the
	// activity again when its sidecar died while the first call ran).
	leave := s.jobs.Exclusive(id, false)
	defer leave()
	log := s.jobLog(ctx, id)
	if out, done, err := s.finalizedBefore(ctx, id, log); err != nil || done {
		return out, err
	}
	var rec JobRecord
	claim, done, err := s.takeClaim(ctx, finalizeClaimKey(id), "the finalize of job "+id, func(ctx context.Context) (done bool, err error) {
		rec, done, err = s.jobRecord(ctx, id)
		return done, err
	}, log)
	if err != nil {
		return job.Finalized{}, err
	}
	if done {
		return finalizedAnswer(id, rec, log)
	}
	recorded := false
	defer func() { claim.release(ctx, recorded, log) }()

	parts := map[string]PublishRecord{}
	var missing []string
	for _, p := range req.Partitions {
		rec, ok, err := s.publishRecord(ctx, id, p)
		if err != nil {
			return job.Finalized{}, err
		}
		if !ok {
			missing = append(missing, p)
			continue
		}
		parts[p] = rec
	}
	if len(missing) > 0 {
		return job.Finalized{}, errkind.New(errkind.Conflict, fmt.Sprintf("job %s cannot be finalized: partition(s) %s are not published yet; "+
			"finalize once every partition's publish-done succeeded", id, strings.Join(missing, ", ")))
	}
	spec := req.Spec
	dests := destinations(spec.Destinations)
	if err := checkDestinations(spec.Destinations); err != nil {
		return job.Finalized{}, errkind.Wrap(errkind.Invalid, err, "finalize request")
	}
	if err := uploadedEverywhere(parts, dests); err != nil {
		return job.Finalized{}, err
	}
	opened, err := s.openDestinations(dests)
	if err != nil {
		return job.Finalized{}, fmt.Errorf("finalize job %s: %w", id, err)
	}

	changes, err := s.compareJob(ctx, id, req, parts, log)
	if err != nil {
		return job.Finalized{}, err
	}
	if req.Spec.DryRun {
		out, err := s.finishDryRun(ctx, id, changes, log)
		recorded = err == nil
		return out, err
	}
	var deletions []model.FileInfo
	if changes != nil {
		if _, _, err := s.checkBaseCurrent(ctx, id, changes); err != nil {
			return job.Finalized{}, err
		}
		if deletions, err = s.writeChanges(ctx, id, req, changes, opened, claim.resumed, log); err != nil {
			return job.Finalized{}, err
		}
	}
	// The manifest's time is kept with the claim before it is sealed, so an
	// attempt that takes over from a dead one builds the same bytes and
	// does not write a manifest a destination already holds.
	at, err := manifestTime(claim, s.now().UTC())
	if err != nil {
		return job.Finalized{}, err
	}
	m := buildManifest(id, req, parts, deletions, at)
	if changes != nil {
		m.Mode, m.Base, m.Changes, m.FailSafes = changes.base.Mode, changes.baseJob(), changes.diff.Counts, changes.diff.FailSafes
	}
	data, err := model.EncodeManifest(m)
	if err != nil {
		return job.Finalized{}, fmt.Errorf("manifest of job %s: %w", id, err)
	}
	sum256 := sha256.Sum256(data)
	manifestSHA := hex.EncodeToString(sum256[:])
	// Sealed: recorded before any destination sees it (fail closed).
	if err := s.audit.Record(audit.WithJob(ctx, id), audit.Entry{Action: audit.ActionManifestSealed, Actor: "publisher",
		App: "publisher", Target: "jobs/" + id + "/manifest", Outcome: audit.OutcomeOK, Details: map[string]string{
			"sha256": manifestSHA, "files": strconv.Itoa(len(m.Files)), "rows": strconv.FormatInt(sum(m.Rows), 10),
			"partitions": strconv.Itoa(len(parts)), "destinations": strconv.Itoa(len(dests))}}); err != nil {
		return job.Finalized{}, fmt.Errorf("the manifest of job %s is not written: %w", id, err)
	}
	out := job.Finalized{Rows: m.Rows}
	if out.Rows == nil {
		out.Rows = map[model.Kind]int64{}
	}
	for _, d := range opened {
		key, err := s.writeManifest(ctx, id, d, data, claim.resumed, log)
		if err != nil {
			return job.Finalized{}, err
		}
		out.Manifests = append(out.Manifests, job.ManifestRef{Binding: d.Binding, Key: key, Files: len(m.Files), Bytes: int64(len(data)), SHA256: manifestSHA})
	}
	if changes != nil {
		// Only now, with the manifest everywhere, is this run's state the
		// connection's: a run that failed before compares again with the
		// old one.
		if err := s.commitState(ctx, id, changes, log); err != nil {
			return job.Finalized{}, err
		}
		out.Mode, out.Changes, out.FailSafes, out.Warnings = changes.base.Mode, changes.diff.Counts, changes.diff.FailSafes, changes.warnings()
	}
	if !claim.l.Held() {
		// Another replica may be finalizing it now: it records the job.
		return job.Finalized{}, errkind.Wrap(errkind.Transient, errClaimLost, "record job "+id+" finalized")
	}
	if err := s.records.Save(ctx, jobKey(id), JobRecord{State: JobFinalized, Finalized: &out, At: s.now().UTC()}); err != nil {
		return job.Finalized{}, fmt.Errorf("record job %s finalized: %w", id, err)
	}
	recorded = true
	if changes != nil {
		s.countChanges(changes)
	}
	s.backlog.jobEnded(id)
	log.Info("job finalized: manifest written", zap.Int("files", len(m.Files)), zap.Int64("rows", sum(out.Rows)),
		zap.Int("destinations", len(dests)), zap.Int("partitions", len(parts)))
	s.cleanStaging(ctx, id, log)
	return out, nil
}

// finalizedBefore answers a job finalized (or cancelled) before: done is
// false while the job has no record.
func (s *Service) finalizedBefore(ctx context.Context, id string, log *zap.Logger) (job.Finalized, bool, error) {
	rec, done, err := s.jobRecord(ctx, id)
	if err != nil || !done {
		return job.Finalized{}, false, err
	}
	out, err := finalizedAnswer(id, rec, log)
	return out, true, err
}

// finalizedAnswer is the answer to a finalize of a job that has a record.
func finalizedAnswer(id string, rec JobRecord, log *zap.Logger) (job.Finalized, error) {
	switch {
	case rec.State == JobCancelled:
		return job.Finalized{}, errkind.New(errkind.Conflict, fmt.Sprintf("job %s was cancelled: it has no manifest; submit the job again", id))
	case rec.Finalized == nil:
		return job.Finalized{}, fmt.Errorf("the record of finalized job %s has no manifest references", id)
	}
	log.Info("job already finalized; its manifests are reported again")
	return *rec.Finalized, nil
}

// finalizeClaimData is what a finalize keeps with its claim.
type finalizeClaimData struct {
	ManifestAt time.Time `json:"manifest_at"`
}

// manifestTime is the time the job's manifest carries: the one an earlier
// attempt kept with the claim, else now, kept with the claim before the
// manifest is sealed. Keeping it is a write fenced by the claim's etag, so
// an attempt whose claim was taken over stops here.
func manifestTime(c *heldClaim, now time.Time) (time.Time, error) {
	var kept finalizeClaimData
	if c.resumed && json.Unmarshal(c.l.Data(), &kept) == nil && !kept.ManifestAt.IsZero() {
		return kept.ManifestAt, nil
	}
	if err := c.l.Put(c.ctx, finalizeClaimData{ManifestAt: now}); err != nil {
		return time.Time{}, errkind.Wrap(errkind.Transient, fmt.Errorf("%w: %w", errClaimLost, err), "keep the manifest's time with the finalize claim")
	}
	return now, nil
}

// writeManifest writes the job's manifest to one destination: the span
// "publisher write manifest". resumed: an earlier attempt may have
// written these very bytes; a destination that holds them is not written
// again.
func (s *Service) writeManifest(ctx context.Context, id string, d openDest, data []byte, resumed bool, log *zap.Logger) (key string, err error) {
	ctx, span, _ := s.step(ctx, "write manifest", log, attrJobID.String(id), attrDestination.String(d.Binding), attrBytes.Int(len(data)))
	defer func() { endStep(span, err) }()
	if resumed {
		if key, ok := d.holdsManifest(ctx, id, data); ok {
			log.Info("manifest already written by an earlier attempt; not written again", zap.String("destination", d.Binding))
			return key, nil
		}
	}
	key, err = d.putManifest(ctx, id, data)
	if err != nil {
		s.m.uploadFailures.WithLabelValues(d.Binding).Inc()
		return "", fmt.Errorf("write the manifest of job %s to destination %s: %w", id, d.Binding, err)
	}
	sumData := sha256.Sum256(data)
	if err := s.audit.Record(audit.WithJob(ctx, id), audit.Entry{Action: audit.ActionUploadAcknowledged, Actor: "publisher",
		App: "publisher", Target: d.Binding + ":" + key, Outcome: audit.OutcomeOK, Details: map[string]string{
			"sha256": hex.EncodeToString(sumData[:]), "bytes": strconv.Itoa(len(data)), "kind": "manifest",
			"destination": d.Binding}}); err != nil {
		return "", fmt.Errorf("the manifest of job %s written to %s is not recorded: %w", id, d.Binding, err)
	}
	s.m.manifests.Inc()
	return key, nil
}

func checkPartitionList(ids []string) error {
	var p []string
	seen := map[string]bool{}
	for _, id := range ids {
		checkID(&p, "partition", id)
		if seen[id] {
			p = append(p, fmt.Sprintf("partition %q is listed twice", id))
		}
		seen[id] = true
	}
	return invalid("finalize request", p)
}

// uploadedEverywhere refuses a manifest for a destination some partition's
// files were not uploaded to: the manifest would list files it lacks.
func uploadedEverywhere(parts map[string]PublishRecord, dests []job.Destination) error {
	var p []string
	for _, id := range slices.Sorted(maps.Keys(parts)) {
		for _, d := range dests {
			if !slices.Contains(parts[id].Destinations, d) {
				p = append(p, fmt.Sprintf("partition %s was not uploaded to binding %s prefix %s", id, d.Binding, d.Prefix))
			}
		}
	}
	if len(p) > 0 {
		return errkind.New(errkind.Conflict, "the job's destinations differ from where its partitions were uploaded: "+
			strings.Join(p, "; ")+"; re-run the job with one spec")
	}
	return nil
}

// buildManifest describes the job from its partition records: every upload
// file sorted by name, the source without its DSN, and each partition's run.
func buildManifest(id string, req job.FinalizeRequest, parts map[string]PublishRecord, deletions []model.FileInfo, now time.Time) model.Manifest {
	spec := req.Spec
	m := model.Manifest{
		JobID: id,
		Source: model.ManifestSource{
			Kind: spec.Source.Kind, Connection: spec.Connection, Databases: spec.Source.Databases,
			ExcludeFields: spec.ExcludeFields, MaxTextBytes: spec.MaxTextBytes,
		},
		StartedAt: req.StartedAt, FinishedAt: now, Queries: req.Queries,
		Files: []model.FileInfo{}, Rows: map[model.Kind]int64{},
		Consistency: model.Consistency(spec.Source.Kind),
	}
	if !filtersEmpty(spec.Filters) {
		m.Source.Filters = spec.Filters
	}
	for _, pid := range slices.Sorted(maps.Keys(parts)) {
		rec := parts[pid]
		m.Files = append(m.Files, rec.Files...)
		for k, n := range rec.Rows {
			m.Rows[k] += n
		}
		m.Partitions = append(m.Partitions, model.ManifestPartition{
			ID: pid, Database: rec.Database, Schemas: rec.Schemas, Tables: rec.Range, Run: rec.Run, Rows: rec.Rows,
		})
	}
	for _, f := range deletions {
		m.Files = append(m.Files, f)
		m.Rows[f.Kind] += f.Rows
	}
	slices.SortFunc(m.Files, func(a, b model.FileInfo) int { return strings.Compare(a.Name, b.Name) })
	return m
}

func filtersEmpty(f assetfilter.Filters) bool {
	return len(f.IncludeSchemas) == 0 && len(f.ExcludeSchemas) == 0 && len(f.IncludeTables) == 0 &&
		len(f.ExcludeTables) == 0 && f.TempTables == ""
}

// finishDryRun ends a dry run: its plan is kept in staging, nothing was
// uploaded and the catalog state stays as it was.
func (s *Service) finishDryRun(ctx context.Context, id string, changes *jobChanges, log *zap.Logger) (job.Finalized, error) {
	if changes == nil {
		return job.Finalized{}, errkind.New(errkind.Invalid, fmt.Sprintf("job %s is a dry run without a connection: there is nothing to compare; set the spec's connection", id))
	}
	p, err := changes.plan(id)
	if err != nil {
		return job.Finalized{}, err
	}
	if err := s.storePlan(ctx, p); err != nil {
		return job.Finalized{}, err
	}
	out := job.Finalized{Rows: map[model.Kind]int64{}, Mode: changes.base.Mode, Changes: changes.diff.Counts,
		FailSafes: changes.diff.FailSafes, Warnings: changes.warnings(), DryRun: true}
	if err := s.records.Save(ctx, jobKey(id), JobRecord{State: JobFinalized, Finalized: &out, At: s.now().UTC()}); err != nil {
		return job.Finalized{}, fmt.Errorf("record job %s finalized: %w", id, err)
	}
	s.backlog.jobEnded(id)
	log.Info("dry run finished: plan kept, nothing uploaded", zap.Int("changes", len(p.Items)), zap.String("mode", p.Mode))
	s.cleanStaging(ctx, id, log)
	return out, nil
}
