package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/changeset"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
)

// compact streams the run's files, per kind in model order and per kind in
// seq order, into upload files and uploads each to every destination as
// soon as it is full. It holds one staged file and one upload file at a
// time. Each staged file is hashed again as it is read, so what is
// uploaded is what was verified. It is the span "publisher compact
// partition", each upload to a destination a "publisher upload file" in it.
//
// resumed says an earlier attempt at the partition was cut short (a killed
// replica, a failed upload): files a destination already holds with the
// same sha256 are not uploaded again.
func (s *Service) compact(ctx context.Context, ev job.PartitionDone, dests []openDest, cmp *comparison, stopped func() bool, resumed bool, log *zap.Logger) (
	files []model.FileInfo, rows map[model.Kind]int64, problems []string, err error) {
	ctx, span, log := s.step(ctx, "compact partition", log, append(jobAttrs(ev.JobID, ev.Partition, ev.Run), attrFiles.Int(len(ev.Files)))...)
	defer func() {
		span.SetAttributes(attribute.Int("secure_agent.upload_files", len(files)))
		if err == nil && len(problems) > 0 {
			span.SetStatus(codes.Error, strings.Join(problems, "; "))
		}
		endStep(span, err)
	}()
	byKind := map[model.Kind][]job.BatchReady{}
	for _, f := range ev.Files {
		byKind[f.Kind] = append(byKind[f.Kind], f)
	}
	rows = map[model.Kind]int64{}
	upload := func(info model.FileInfo, data []byte) error {
		if stopped() {
			return errStopped
		}
		if ev.DryRun {
			return nil // a plan uploads nothing
		}
		for _, d := range dests {
			if resumed && d.holds(ctx, ev.JobID, info) {
				log.Debug("upload file already written by an earlier attempt; not uploaded again",
					zap.String("destination", d.Binding), zap.String("file", info.Name))
				continue
			}
			if err := s.uploadFile(ctx, ev, d, info, data, log); err != nil {
				return err
			}
		}
		files = append(files, info)
		return nil
	}
	for _, kind := range model.Kinds {
		staged := byKind[kind]
		if len(staged) == 0 {
			continue
		}
		slices.SortFunc(staged, func(a, b job.BatchReady) int { return a.Seq - b.Seq })
		u := newUploadWriter(ev.Partition, kind, s.target, upload)
		for _, f := range staged {
			problem, err := s.compactFile(ctx, f, u, cmp, stopped)
			if err != nil || problem != "" {
				u.Discard()
				if problem != "" {
					return files, rows, []string{problem}, nil
				}
				return files, rows, nil, err
			}
		}
		if err := u.Close(); err != nil {
			return files, rows, nil, err
		}
		if !ev.DryRun {
			rows[kind] = u.total
		}
	}
	return files, rows, nil, nil
}

// DefaultDigestSpill is how many digests a partition holds before it
// stages them, sorted, as a run: what bounds its memory, whatever its size.
const DefaultDigestSpill = 4 * changeset.ChunkEntries

// comparison digests every row of a partition and, for an incremental
// run, says which rows ship: those created or updated since the base. The
// digests are staged as sorted runs of at most digestSpill entries.
type comparison struct {
	ctx         context.Context
	incremental bool
	// base is the digests of the partition's part of the catalog state,
	// read when its first row is classified (loadBase).
	base     *changeset.DigestSet
	loadBase func(first changeset.Entry) (*changeset.DigestSet, error)
	spillAt  int // DefaultDigestSpill
	// stage writes sorted digests as a run.
	stage   func(ctx context.Context, entries []changeset.Entry, n int) (changeset.RunRef, error)
	entries []changeset.Entry // the rows seen since the last run was staged
	runs    []changeset.RunRef
}

// spill stages the digests held as a run.
func (c *comparison) spill() error {
	if len(c.entries) == 0 {
		return nil
	}
	slices.SortFunc(c.entries, changeset.Compare)
	ref, err := c.stage(c.ctx, c.entries, len(c.runs))
	if err != nil {
		return err
	}
	c.runs = append(c.runs, ref)
	c.entries = c.entries[:0]
	return nil
}

// digests stages what is left and says where every digest is.
func (c *comparison) digests() (*StagedDigests, error) {
	if err := c.spill(); err != nil {
		return nil, err
	}
	d := &StagedDigests{Runs: c.runs}
	for _, r := range c.runs {
		d.Entries += r.Entries
	}
	return d, nil
}

// write hands rec's rows that ship to sink, in order, and digests every
// row. A batch whose rows all ship is written whole.
func (c *comparison) write(kind model.Kind, rec arrow.Record, sink func(arrow.Record) error) error {
	if c == nil {
		return sink(rec)
	}
	d, err := changeset.NewDigester(kind, rec)
	if err != nil {
		return err
	}
	n := d.Rows()
	var runs [][2]int // [from, to) of rows that ship
	from := -1
	for i := range n {
		e, err := d.Entry(i)
		if err != nil {
			return err
		}
		c.entries = append(c.entries, e)
		if len(c.entries) >= c.spillAt {
			if err := c.spill(); err != nil {
				return &sinkError{err}
			}
		}
		ship := true
		if c.incremental {
			if c.base == nil {
				if c.base, err = c.loadBase(e); err != nil {
					return &sinkError{err}
				}
			}
			ship = !c.base.Unchanged(e)
		}
		switch {
		case ship && from < 0:
			from = i
		case !ship && from >= 0:
			runs = append(runs, [2]int{from, i})
			from = -1
		}
	}
	if from >= 0 {
		runs = append(runs, [2]int{from, n})
	}
	if len(runs) == 1 && runs[0] == [2]int{0, n} {
		return sink(rec)
	}
	for _, r := range runs {
		slice := rec.NewSlice(int64(r[0]), int64(r[1]))
		err := sink(slice)
		slice.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// uploadFile writes one upload file to one destination: the span
// "publisher upload file" and the destination's upload metrics.
func (s *Service) uploadFile(ctx context.Context, ev job.PartitionDone, d openDest, info model.FileInfo, data []byte, log *zap.Logger) (err error) {
	ctx, span, log := s.step(ctx, "upload file", log, append(jobAttrs(ev.JobID, ev.Partition, ev.Run),
		attrDestination.String(d.Binding), attrKind.String(string(info.Kind)), attrFile.String(info.Name),
		attrBytes.Int(len(data)), attrRows.Int64(info.Rows))...)
	defer func() { endStep(span, err) }()
	receipt, err := d.putFile(ctx, ev.JobID, info, data)
	if err != nil {
		s.m.uploadFailures.WithLabelValues(d.Binding).Inc()
		return &uploadError{fmt.Errorf("upload %s to destination %s: %w", info.Name, d.Binding, err)}
	}
	if err := s.audit.Record(audit.WithJob(ctx, ev.JobID), audit.Entry{Action: audit.ActionUploadAcknowledged, Actor: "publisher",
		App: "publisher", Target: d.Binding + ":" + info.Name, Outcome: audit.OutcomeOK, Details: map[string]string{
			"sha256": info.SHA256, "bytes": strconv.Itoa(len(data)), "rows": strconv.FormatInt(info.Rows, 10),
			"kind": string(info.Kind), "destination": d.Binding, "partition": ev.Partition, "receipt": receipt}}); err != nil {
		return fmt.Errorf("upload of %s to %s is not recorded: %w", info.Name, d.Binding, err)
	}
	s.m.files.WithLabelValues(d.Binding).Inc()
	s.m.bytes.WithLabelValues(d.Binding).Add(float64(len(data)))
	log.Debug("upload file written", zap.String("destination", d.Binding), zap.String("file", info.Name),
		zap.Int64("rows", info.Rows), zap.Int64("bytes", info.Bytes))
	return nil
}

// uploadError marks a destination's refusal of an upload file, so a
// refusal that repeating will not cure fails the partition instead of
// leaving it to time out.
type uploadError struct{ err error }

func (e *uploadError) Error() string { return e.err.Error() }
func (e *uploadError) Unwrap() error { return e.err }

// sinkError marks an error of the upload side inside a read callback, to
// tell it apart from a staged file that does not decode.
type sinkError struct{ err error }

func (e *sinkError) Error() string { return e.err.Error() }
func (e *sinkError) Unwrap() error { return e.err }

func (s *Service) compactFile(ctx context.Context, f job.BatchReady, u *uploadWriter, cmp *comparison, stopped func() bool) (string, error) {
	if stopped() {
		return "", errStopped
	}
	c, err := s.checkStaged(ctx, f)
	if err != nil {
		return "", fmt.Errorf("read staged file %s: %w", f.Key, err)
	}
	if c.problem != "" {
		return c.problem + " (it changed after it was verified)", nil
	}
	var rows int64
	kind, err := model.ReadStream(bytes.NewReader(c.data), int64(len(c.data)), func(k model.Kind, rec arrow.Record) error {
		if k != f.Kind {
			return fmt.Errorf("it holds %s rows, its batch event says %s", k, f.Kind)
		}
		rows += rec.NumRows()
		return cmp.write(k, rec, func(r arrow.Record) error {
			if err := u.Write(r); err != nil {
				return &sinkError{err}
			}
			return nil
		})
	})
	var se *sinkError
	switch {
	case errors.As(err, &se):
		return "", se.err
	case err != nil:
		return fmt.Sprintf("staged file %s cannot be read: %v", f.Key, err), nil
	case kind != f.Kind:
		return fmt.Sprintf("staged file %s holds %s rows, its batch event says %s", f.Key, kind, f.Kind), nil
	case rows != f.Rows:
		return fmt.Sprintf("staged file %s holds %d rows, its batch event says %d", f.Key, rows, f.Rows), nil
	}
	return "", nil
}
