package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/changeset"
	"github.com/secure-agent/secure-agent/libs/logging"
)

// DefaultCompactTargetBytes is the size at which an upload file is closed.
const DefaultCompactTargetBytes = 64 << 20

// Options are the Service's dependencies.
type Options struct {
	Staging      StagingStore
	Destinations Destinations
	Records      RecordStore
	// Versioned keeps the connections' catalog-state pointers (ADR 0015).
	Versioned VersionedStore
	Events    EventPublisher
	// MaxDeletionShare is the share of a connection's catalog a run may
	// delete before its deletions are withheld, unless the job says
	// otherwise (0: changeset.DefaultMaxDeletionShare).
	MaxDeletionShare float64
	// CompactTargetBytes closes an upload file once its compressed size
	// reaches it (default DefaultCompactTargetBytes).
	CompactTargetBytes int64
	Logger             *zap.Logger
	Registerer         prometheus.Registerer
	// TracerProvider gives every step of a handler a span; nil records none.
	TracerProvider trace.TracerProvider
	Now            func() time.Time
	// Audit records each sealed manifest before it is written and each
	// upload a destination acknowledged (nil: audit.Off).
	Audit audit.Recorder
	// Instance names this replica in the partition claims it holds
	// (default "publisher"); ClaimTTL bounds how long a dead replica's
	// claim delays another (default DefaultClaimTTL).
	Instance string
	ClaimTTL time.Duration
	// Concurrency bounds the partitions published at once (default
	// DefaultConcurrency): each holds its digests, an upload file and, in
	// an incremental run, its part of the catalog state. As many staged
	// files are checked at once (batch-ready; each check holds its file).
	Concurrency int
}

// DefaultConcurrency is how many partitions a replica publishes at once.
const DefaultConcurrency = 2

// Service is the publisher.
type Service struct {
	staging StagingStore
	dest    Destinations
	records RecordStore
	events  EventPublisher

	versioned        VersionedStore
	claims           VersionedStore
	instance         string
	claimTTL         time.Duration
	digestSpill      int
	slots            chan struct{} // one per partition being published
	checks           chan struct{} // one per staged file being checked
	maxDeletionShare float64
	target           int64
	log              *zap.Logger
	m                *metrics
	backlog          *backlog
	tracer           trace.Tracer
	now              func() time.Time
	audit            audit.Recorder

	parts *keyedMutex
	jobs  *jobGate
}

// New checks the dependencies and registers the metrics.
func New(o Options) (*Service, error) {
	if o.Staging == nil || o.Destinations == nil || o.Records == nil || o.Versioned == nil || o.Events == nil {
		return nil, errors.New("publisher: staging, destinations, records, versioned records and events are required")
	}
	if err := changeset.CheckMaxDeletionShare(o.MaxDeletionShare); err != nil {
		return nil, fmt.Errorf("publisher: %w", err)
	}
	if o.CompactTargetBytes == 0 {
		o.CompactTargetBytes = DefaultCompactTargetBytes
	}
	if o.CompactTargetBytes < 0 {
		return nil, fmt.Errorf("publisher: compact target %d bytes must be positive", o.CompactTargetBytes)
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Audit == nil {
		o.Audit = audit.Off{}
	}
	if o.Instance == "" {
		o.Instance = "publisher"
	}
	if o.ClaimTTL == 0 {
		o.ClaimTTL = DefaultClaimTTL
	}
	if o.ClaimTTL < time.Second {
		return nil, fmt.Errorf("publisher: claim TTL %s must be at least 1s", o.ClaimTTL)
	}
	concurrency := o.Concurrency
	if concurrency == 0 {
		concurrency = DefaultConcurrency
	}
	if concurrency < 0 {
		return nil, fmt.Errorf("publisher: concurrency %d must be positive", concurrency)
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	return &Service{
		staging: o.Staging, dest: o.Destinations, records: o.Records, events: o.Events,
		target: o.CompactTargetBytes, log: o.Logger, m: m, backlog: newBacklog(m.backlog), tracer: tracerOf(o.TracerProvider), now: o.Now,
		parts: newKeyedMutex(), jobs: newJobGate(), audit: o.Audit,
		versioned: o.Versioned, maxDeletionShare: o.MaxDeletionShare,
		claims: o.Versioned, instance: o.Instance, claimTTL: o.ClaimTTL,
		digestSpill: DefaultDigestSpill, slots: make(chan struct{}, concurrency),
		checks: make(chan struct{}, concurrency),
	}, nil
}

// CountInvalid counts an event dropped because it could not be decoded or
// was invalid.
func (s *Service) CountInvalid(topic string) { s.m.invalid.WithLabelValues(topic).Inc() }

// ignore counts an event acknowledged without work.
func (s *Service) ignore(topic, reason string) { s.m.ignored.WithLabelValues(topic, reason).Inc() }

// jobRecord reads the job's record; ok is false while the job is live.
func (s *Service) jobRecord(ctx context.Context, jobID string) (JobRecord, bool, error) {
	var r JobRecord
	ok, err := s.records.Get(ctx, jobKey(jobID), &r)
	if err != nil {
		return r, false, fmt.Errorf("read the record of job %s: %w", jobID, err)
	}
	return r, ok, nil
}

// publishRecord reads a partition's publish record, if it was published.
func (s *Service) publishRecord(ctx context.Context, jobID, partition string) (PublishRecord, bool, error) {
	var r PublishRecord
	ok, err := s.records.Get(ctx, publishKey(jobID, partition), &r)
	if err != nil {
		return r, false, fmt.Errorf("read the publish record of job %s partition %s: %w", jobID, partition, err)
	}
	return r, ok, nil
}

// jobLog is the logger of a job's handler: its lines carry the job id and
// the trace and span of ctx.
func (s *Service) jobLog(ctx context.Context, jobID string, fields ...zap.Field) *zap.Logger {
	return logging.WithTrace(ctx, s.log).With(append([]zap.Field{zap.String("job_id", jobID)}, fields...)...)
}
