package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/logging"
	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector/dbobs"
)

// ExtractorOptions configure an Extractor. Logger, Metrics and
// TracerProvider may be nil.
type ExtractorOptions struct {
	Connectors  ConnectorOpener
	Credentials CredentialSource
	Staging     ObjectPutter
	Events      EventPublisher
	Records     RecordStore
	// FileBytes closes and announces a staged file once its compressed
	// size reaches it (STAGING_FILE_BYTES).
	FileBytes int
	// Concurrency bounds the partitions extracted at once (EXTRACT_CONCURRENCY).
	Concurrency int
	// Lifetime ends when the service stops: running extractions are cut
	// short and their messages answered RETRY, so another replica (or this
	// one, restarted) runs them again.
	Lifetime context.Context
	Logger   *zap.Logger
	Metrics  *Metrics
	// TracerProvider receives the spans of the run's steps (nil: none).
	TracerProvider trace.TracerProvider
	// Audit records each staged file before it is announced and each
	// run's statements (nil: audit.Off).
	Audit audit.Recorder
}

// Extractor handles extraction requests (ADR 0007 "Runs").
type Extractor struct {
	o        ExtractorOptions
	log      *zap.Logger
	metrics  *Metrics
	tracer   trace.Tracer
	slots    chan struct{}
	inflight inflight
}

// NewExtractor checks the options.
func NewExtractor(o ExtractorOptions) (*Extractor, error) {
	switch {
	case o.Connectors == nil, o.Credentials == nil, o.Staging == nil, o.Events == nil, o.Records == nil:
		return nil, errors.New("extractor: connectors, credentials, staging, events and records are required")
	case o.FileBytes < 1:
		return nil, fmt.Errorf("extractor: staging file size %d must be positive", o.FileBytes)
	case o.Concurrency < 1:
		return nil, fmt.Errorf("extractor: concurrency %d must be positive", o.Concurrency)
	}
	if o.Lifetime == nil {
		o.Lifetime = context.Background()
	}
	if o.Audit == nil {
		o.Audit = audit.Off{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Metrics == nil {
		m, err := NewMetrics(nil)
		if err != nil {
			return nil, err
		}
		o.Metrics = m
	}
	return &Extractor{o: o, log: o.Logger, metrics: o.Metrics, tracer: tracerOf(o.TracerProvider),
		slots: make(chan struct{}, o.Concurrency)}, nil
}

// Reject counts a message that could not be decoded and returns err as
// errkind.Invalid, so the router drops it to the dead-letter topic.
func (x *Extractor) Reject(ctx context.Context, err error) error { return x.reject(ctx, err, "") }

func (x *Extractor) reject(ctx context.Context, err error, jobID string) error {
	x.metrics.request(ResultInvalid)
	// The router logs the dropped message with its error; this adds the job.
	logging.WithTrace(ctx, x.log).Debug("extract request rejected; it goes to the dead-letter topic", zap.String("job_id", jobID))
	if errkind.Of(err) != errkind.Invalid {
		err = errkind.Wrap(errkind.Invalid, err, "extract request")
	}
	return err
}

// Handle processes one request. nil acknowledges the message (the run's
// outcome, success or failure, has been published); a Transient error asks
// for redelivery (interrupted, or the state store or broker failed); an
// Invalid error drops it to the dead letter.
func (x *Extractor) Handle(ctx context.Context, req job.ExtractRequest) error {
	if err := CheckRequest(&req); err != nil {
		return x.reject(ctx, err, req.JobID)
	}
	ctx = audit.WithJob(ctx, req.JobID)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(x.o.Lifetime, cancel)()
	// base has the job's fields; each span's lines add its trace_id and
	// span_id (logging.WithTrace), here the delivery's.
	base := x.log.With(zap.String("job_id", req.JobID), zap.String("partition", req.Partition.ID),
		zap.Int("attempt", req.Attempt))
	log := logging.WithTrace(ctx, base)

	key := RecordKey(req.JobID, req.Partition.ID)
	for {
		c, leader := x.inflight.begin(key, req.Attempt)
		if leader {
			err := x.handle(ctx, req, key, base)
			x.inflight.end(key, c, err)
			return err
		}
		log.Info("partition already being extracted here; waiting for that work", zap.Int("running_attempt", c.attempt))
		select {
		case <-c.done:
		case <-ctx.Done():
			x.metrics.request(ResultRetry)
			return errkind.Wrap(errkind.Transient, ctx.Err(), "wait for the running extraction of "+describePartition(req.Partition))
		}
		if c.attempt == req.Attempt {
			x.metrics.request(ResultJoined)
			return c.err
		}
		// A later attempt: answer it from the record the finished work left
		// (or run again if it failed).
	}
}

// handle runs the partition (or answers it from its record) inside the
// "extract partition" span; base is the request's logger without a trace.
func (x *Extractor) handle(ctx context.Context, req job.ExtractRequest, key string, base *zap.Logger) (err error) {
	ctx, span := x.tracer.Start(ctx, spanExtract, trace.WithAttributes(requestAttrs(req)...))
	defer func() { endSpan(span, err) }()
	log := logging.WithTrace(ctx, base)

	select {
	case x.slots <- struct{}{}:
	case <-ctx.Done():
		x.metrics.request(ResultRetry)
		return errkind.Wrap(errkind.Transient, ctx.Err(), "wait for an extraction slot")
	}
	defer func() { <-x.slots }()
	span.AddEvent("extraction slot taken")

	rec, found, err := x.o.Records.LoadRecord(ctx, key)
	if err != nil {
		x.metrics.request(ResultRetry)
		return errkind.Wrap(errkind.Transient, err, "read the record of "+describePartition(req.Partition))
	}
	if found {
		span.SetAttributes(attrRun.String(rec.Run))
		span.AddEvent("finished run found: announced again")
		return x.replay(ctx, req, rec, log.With(zap.String("run", rec.Run)))
	}
	run, err := newRunID()
	if err != nil {
		x.metrics.request(ResultRetry)
		return errkind.Wrap(errkind.Transient, err, "make a run id")
	}
	span.SetAttributes(attrRun.String(run))
	base = base.With(zap.String("run", run))
	log = log.With(zap.String("run", run))
	log.Info("extraction run started", zap.String("database", req.Partition.Database), zap.Strings("schemas", req.Partition.Schemas))
	start := time.Now()

	runCtx, cancelRun := context.WithTimeout(ctx, req.Spec.Partitioning.Timeout.D())
	rec, runErr := x.run(runCtx, req, run, start, base, log)
	timedOut := runErr != nil && errors.Is(runCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	cancelRun()
	if runErr == nil {
		if err := x.o.Records.SaveRecord(ctx, key, rec); err != nil {
			runErr = errkind.Wrap(errkind.Transient, err, "save the record of the run")
		} else {
			span.AddEvent("run recorded")
		}
	}
	if runErr != nil && ctx.Err() != nil {
		// Stopping: nothing is announced; the redelivered request starts a
		// new run and this partial one is never referenced.
		x.metrics.request(ResultRetry)
		log.Info("extraction run interrupted; the request will be delivered again")
		return errkind.Wrap(errkind.Transient, runErr, "extraction of "+describePartition(req.Partition)+" interrupted")
	}
	if runErr != nil {
		done := job.PartitionDone{
			JobID: req.JobID, Partition: req.Partition.ID, Attempt: req.Attempt, Run: run,
			Database: req.Partition.Database, Schemas: req.Partition.Schemas, Range: req.Partition.Range,
			Error: failureMessage(req, runErr, timedOut), Retryable: timedOut || Retryable(runErr),
			Elapsed: job.Duration(time.Since(start)),
		}
		// The message is answered (the failure is reported), but the run
		// failed: the span says so, with the message the user sees.
		span.SetAttributes(semconv.ErrorTypeKey.String(errkind.Of(runErr).String()),
			attrResult.String(ResultFailed), attrRetryable.Bool(done.Retryable))
		span.SetStatus(codes.Error, logging.RedactString(done.Error))
		if err := x.o.Events.Publish(ctx, job.TopicPartitionDone, done); err != nil {
			x.metrics.request(ResultRetry)
			return err
		}
		x.metrics.run(false, time.Since(start), nil)
		x.metrics.request(ResultFailed)
		log.Warn("extraction run failed", zap.Bool("retryable", done.Retryable), zap.String("error", done.Error))
		return nil
	}
	if err := x.o.Events.Publish(ctx, job.TopicPartitionDone, rec.done(req)); err != nil {
		// The record is saved: the redelivered request announces it again.
		x.metrics.request(ResultRetry)
		return err
	}
	span.SetAttributes(attrResult.String(ResultExtracted))
	x.metrics.run(true, time.Since(start), rec.Rows)
	x.metrics.request(ResultExtracted)
	log.Info("extraction run finished", zap.Int("files", len(rec.Files)), zap.Any("rows", rec.Rows),
		zap.Int("queries", rec.Queries), zap.Duration("elapsed", rec.Elapsed.D()))
	return nil
}

// replay announces a finished run again: its files, then its PartitionDone.
func (x *Extractor) replay(ctx context.Context, req job.ExtractRequest, rec Record, log *zap.Logger) error {
	for _, f := range rec.Files {
		if err := x.announce(ctx, f); err != nil {
			x.metrics.request(ResultRetry)
			return err
		}
	}
	if err := x.o.Events.Publish(ctx, job.TopicPartitionDone, rec.done(req)); err != nil {
		x.metrics.request(ResultRetry)
		return err
	}
	trace.SpanFromContext(ctx).SetAttributes(attrResult.String(ResultReplayed))
	x.metrics.request(ResultReplayed)
	log.Info("partition already extracted; its run was announced again", zap.Int("files", len(rec.Files)))
	return nil
}

// announce publishes one staged file on batch-ready, in its own span.
func (x *Extractor) announce(ctx context.Context, br job.BatchReady) (err error) {
	ctx, span := x.tracer.Start(ctx, spanAnnounce, trace.WithAttributes(batchAttrs(br)...))
	defer func() { endSpan(span, err) }()
	if err := x.o.Events.Publish(ctx, job.TopicBatchReady, br); err != nil {
		return err
	}
	x.metrics.batchAnnounced()
	return nil
}

func batchAttrs(br job.BatchReady) []attribute.KeyValue {
	return []attribute.KeyValue{
		attrJobID.String(br.JobID), attrPartition.String(br.Partition), attrRun.String(br.Run),
		attrKind.String(string(br.Kind)), attrSeq.Int(br.Seq), attrBytes.Int64(br.Bytes), attrRows.Int64(br.Rows),
	}
}

// run extracts the partition into staged files and returns the record of
// the run. Its error text never holds the source password. base is the
// run's logger without a trace (its steps add their own), log the same
// inside the run's span.
func (x *Extractor) run(ctx context.Context, req job.ExtractRequest, run string, start time.Time, base, log *zap.Logger) (Record, error) {
	spec := req.Spec
	inner, err := x.o.Credentials.For(spec.Source.Password)
	if err != nil {
		return Record{}, err
	}
	creds := &scrubbingCredentials{inner: inner}
	conn, err := x.o.Connectors.Open(ctx, SourceFor(spec, req.Partition), creds)
	if err != nil {
		return Record{}, creds.wrap(err)
	}
	defer func() {
		if err := conn.Close(); err != nil {
			log.Warn("close source connector", zap.Error(creds.wrap(err)))
		}
	}()

	st := &stager{x: x, ctx: ctx, req: req, run: run, log: base}
	sink := NewStagingSink(x.o.FileBytes, st.stage)
	w, err := model.NewWriter(sink, model.WriterOptions{JobID: req.JobID, ExtractedAt: req.ExtractedAt, ExcludeFields: spec.ExcludeFields,
		MaxTextBytes: spec.MaxTextBytes})
	if err != nil {
		sink.Abort()
		return Record{}, err
	}
	tctx, tally := dbobs.WithTally(ctx)
	stats, err := conn.Extract(tctx, w)
	if err != nil {
		sink.Abort() // a failed run stages nothing more
		_ = w.Close()
		return Record{}, creds.wrap(err)
	}
	if err := w.Close(); err != nil {
		sink.Abort()
		return Record{}, err
	}
	if err := sink.Close(); err != nil {
		return Record{}, err
	}
	rows := rowsOf(st.files)
	if counts := w.Counts(); !sameRows(rows, counts) {
		return Record{}, fmt.Errorf("staged files hold %v rows but the connector wrote %v; this is a bug, report it", rows, counts)
	}
	if err := x.o.Audit.Record(audit.WithJob(ctx, req.JobID), audit.Entry{Action: audit.ActionPartitionStatement,
		Actor: "extractor", App: "extractor", Target: req.JobID + "/" + req.Partition.ID, Outcome: audit.OutcomeOK,
		Details: map[string]string{"count": strconv.Itoa(tally.Total()), "names": tally.Names(), "run": run,
			"database": req.Partition.Database, "files": strconv.Itoa(len(st.files))}}); err != nil {
		return Record{}, fmt.Errorf("the run's statements were not recorded: %w", err)
	}
	return Record{
		Run: run, Attempt: req.Attempt, Files: st.files, Rows: rows,
		Queries: stats.Queries, Elapsed: job.Duration(time.Since(start)),
	}, nil
}

func sameRows(a, b map[model.Kind]int64) bool {
	for k, n := range b {
		if n != 0 && a[k] != n {
			return false
		}
	}
	for k, n := range a {
		if b[k] != n {
			return false
		}
	}
	return true
}

// stager puts each finished file into the staging store and announces it.
type stager struct {
	x     *Extractor
	ctx   context.Context // the run's, inside its span
	req   job.ExtractRequest
	run   string
	log   *zap.Logger // without a trace
	files []job.BatchReady
}

func (s *stager) stage(kind model.Kind, seq int, data []byte, rows int64) error {
	sum := sha256.Sum256(data)
	br := job.BatchReady{
		JobID: s.req.JobID, Partition: s.req.Partition.ID, Run: s.run, Kind: kind, Seq: seq,
		Key:    job.StagingKey(s.req.JobID, s.req.Partition.ID, s.run, kind, seq),
		SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(data)), Rows: rows,
	}
	if err := s.put(br, data); err != nil {
		return err
	}
	// The file is recorded before anyone is told it exists (fail closed).
	if err := s.x.o.Audit.Record(audit.WithJob(s.ctx, s.req.JobID), audit.Entry{Action: audit.ActionPartitionStaged,
		Actor: "extractor", App: "extractor", Target: br.Key, Outcome: audit.OutcomeOK, Details: map[string]string{
			"sha256": br.SHA256, "bytes": strconv.FormatInt(br.Bytes, 10), "rows": strconv.FormatInt(rows, 10),
			"kind": string(kind), "partition": s.req.Partition.ID, "run": s.run}}); err != nil {
		return fmt.Errorf("staged %s file %d is not announced: %w", kind, seq, err)
	}
	if err := s.x.announce(s.ctx, br); err != nil {
		return fmt.Errorf("announce staged %s file %d: %w", kind, seq, err)
	}
	s.files = append(s.files, br)
	return nil
}

// put writes one file to the staging store, in its own span.
func (s *stager) put(br job.BatchReady, data []byte) (err error) {
	ctx, span := s.x.tracer.Start(s.ctx, spanStage, trace.WithAttributes(append(batchAttrs(br), attrKey.String(br.Key))...))
	defer func() { endSpan(span, err) }()
	if err := s.x.o.Staging.Put(ctx, br.Key, data); err != nil {
		return fmt.Errorf("stage %s file %d: %w", br.Kind, br.Seq, err)
	}
	s.x.metrics.staged(br.Kind, len(data))
	logging.WithTrace(ctx, s.log).Debug("staged file", zap.String("key", br.Key), zap.Int64("rows", br.Rows), zap.Int64("bytes", br.Bytes))
	return nil
}

// newRunID is 16 random hex digits.
func newRunID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
