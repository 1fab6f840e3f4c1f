package app

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/controlplane"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/logging"
	"github.com/secure-agent/secure-agent/libs/logship"
	"github.com/secure-agent/secure-agent/libs/metricdef"
)

// LogSink uploads one batch of a job's log lines: gzip-compressed NDJSON of
// controlplane.LogLine. The control-plane client fits.
type LogSink interface {
	UploadLogs(ctx context.Context, jobID string, seq, dropped int, ndjsonGzip []byte) error
}

// Defaults and limits of the log uploader.
const (
	DefaultLogUploadLines = 50_000
	DefaultLogUploadBytes = 16 << 20
	// maxUploadBody is the API's limit on one compressed batch.
	maxUploadBody = 1 << 20
	// maxUploadRaw is how much NDJSON is compressed together before the
	// result is checked against maxUploadBody (log lines compress well).
	maxUploadRaw = 8 << 20
	// maxUploadLine drops a single line that could not fit a batch anyway.
	maxUploadLine = 256 << 10
	// refuseFor is how long the lines of a job the control plane does not
	// know are dropped on arrival instead of being uploaded in vain.
	refuseFor       = 10 * time.Minute
	maxRoundBackoff = time.Minute
	noLogMessage    = "(no message)"
)

// Reasons of secure_agent_log_upload_lines_dropped_total.
const (
	DropBufferFull   = "buffer_full"   // the buffer was full when the lines arrived
	DropUploadFailed = "upload_failed" // a failed batch made room for newer lines
	DropRejected     = "rejected"      // the control plane refused the batch or does not know the job
	DropTooLarge     = "too_large"     // one line over maxUploadLine
)

// LogUploaderOptions configure a LogUploader; Sink is required, zero
// numbers take the defaults.
type LogUploaderOptions struct {
	Sink     LogSink
	MaxLines int
	MaxBytes int
	Interval time.Duration
	// Start numbers this process's batches from Start.UnixMilli()*1000, so
	// a restarted health never repeats a sequence number of a job: the
	// control plane ignores a batch whose sequence it already stored.
	Start      time.Time
	Logger     *zap.Logger
	Registerer prometheus.Registerer
	// TracerProvider makes every round that uploads something the root
	// span of its own trace; nil records none.
	TracerProvider trace.TracerProvider
}

// LogUploader takes job log batches from the job-logs topic into a bounded
// buffer and uploads them per job. Accepting never waits for the control
// plane; when the buffer is full, lines are dropped and counted, and the
// job's next batch tells the control plane how many.
type LogUploader struct {
	opts    LogUploaderOptions
	log     *zap.Logger
	tracer  trace.Tracer
	metrics *uploadMetrics
	warn    throttle
	now     func() time.Time
	round   chan struct{} // one upload round at a time (Run or Flush)

	mu     sync.Mutex
	lines  int // held: pending and sealed
	bytes  int
	failed int // sealed batches whose last upload failed and that are not in flight
	jobs   map[string]*jobLog
	seq    int
}

type jobLog struct {
	pending      []json.RawMessage
	pendingBytes int
	dropped      int         // lines lost since the job's last sealed batch
	batches      []*logBatch // sealed, in sequence order
	refusedUntil time.Time
	// written is the span that wrote the job's first traced line: its
	// uploads join the job's trace as that span's children.
	written trace.SpanContext
}

// logBatch is a sealed batch: its sequence number and body stay the same
// on every try, so a retry the control plane already stored is ignored.
type logBatch struct {
	seq, dropped int
	lines, bytes int
	body         []byte
	inflight     bool
	failed       bool
}

// NewLogUploader checks the options and registers the uploader's metrics.
func NewLogUploader(o LogUploaderOptions) (*LogUploader, error) {
	if o.Sink == nil {
		return nil, errors.New("log uploader: a sink is required")
	}
	if o.MaxLines <= 0 {
		o.MaxLines = DefaultLogUploadLines
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultLogUploadBytes
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Start.IsZero() {
		o.Start = time.Now()
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	u := &LogUploader{
		opts: o, log: o.Logger, tracer: tracerOf(o.TracerProvider), warn: throttle{period: time.Minute}, now: time.Now,
		round: make(chan struct{}, 1), jobs: map[string]*jobLog{}, seq: int(o.Start.UnixMilli() * 1000),
	}
	m, err := newUploadMetrics(o.Registerer, u.held)
	if err != nil {
		return nil, err
	}
	u.metrics = m
	return u, nil
}

// Accept buffers one job-logs event. It only fails for an event without a
// job id, which is dropped.
func (u *LogUploader) Accept(b logship.Batch) error {
	if b.JobID == "" {
		return errkind.New(errkind.Invalid, "job-logs event from service "+b.Service+" has no job_id")
	}
	now := u.now()
	enc := make([]json.RawMessage, 0, len(b.Lines))
	tooLarge := 0
	var written trace.SpanContext
	for _, l := range b.Lines {
		if !written.IsValid() {
			written = lineSpan(l)
		}
		raw, err := encodeLogLine(b.Service, l, now)
		if err != nil || len(raw) > maxUploadLine {
			tooLarge++
			continue
		}
		enc = append(enc, raw)
	}

	u.mu.Lock()
	defer u.mu.Unlock()
	j := u.jobLocked(b.JobID)
	if !j.written.IsValid() {
		j.written = written
	}
	if now.Before(j.refusedUntil) {
		u.metrics.drop(DropRejected, len(b.Lines))
		return nil
	}
	full := 0
	for _, raw := range enc {
		n := len(raw) + 1
		for !u.fitsLocked(n) && u.evictLocked() {
		}
		if !u.fitsLocked(n) {
			full++
			continue
		}
		j.pending = append(j.pending, raw)
		j.pendingBytes += n
		u.lines++
		u.bytes += n
	}
	j.dropped += b.Dropped + tooLarge + full
	u.metrics.drop(DropTooLarge, tooLarge)
	u.metrics.drop(DropBufferFull, full)
	return nil
}

// encodeLogLine fills what the API requires (ts, level, msg) and encodes it.
func encodeLogLine(service string, l controlplane.LogLine, now time.Time) ([]byte, error) {
	if l.Service == "" {
		l.Service = service
	}
	if l.TS.IsZero() {
		l.TS = now.UTC()
	}
	if l.Level == "" {
		l.Level = "info"
	}
	if l.Msg == "" {
		l.Msg = noLogMessage
	}
	return json.Marshal(l)
}

func (u *LogUploader) jobLocked(id string) *jobLog {
	j, ok := u.jobs[id]
	if !ok {
		j = &jobLog{}
		u.jobs[id] = j
	}
	return j
}

func (u *LogUploader) fitsLocked(n int) bool {
	return u.lines+1 <= u.opts.MaxLines && u.bytes+n <= u.opts.MaxBytes
}

// evictLocked drops the oldest batch whose upload failed, making room for
// newer lines; its lines are counted in its job's next batch.
func (u *LogUploader) evictLocked() bool {
	if u.failed == 0 {
		return false
	}
	var (
		oldest *logBatch
		owner  *jobLog
	)
	for _, j := range u.jobs {
		for _, b := range j.batches {
			if b.failed && !b.inflight && (oldest == nil || b.seq < oldest.seq) {
				oldest, owner = b, j
			}
		}
	}
	if oldest == nil {
		return false
	}
	u.removeLocked(owner, oldest)
	owner.dropped += oldest.lines + oldest.dropped
	u.metrics.drop(DropUploadFailed, oldest.lines)
	return true
}

func (u *LogUploader) removeLocked(j *jobLog, b *logBatch) {
	j.batches = slices.DeleteFunc(j.batches, func(x *logBatch) bool { return x == b })
	u.lines -= b.lines
	u.bytes -= b.bytes
	if b.failed && !b.inflight {
		u.failed--
	}
	b.failed = false
}

// held is what the buffer holds, for the gauge.
func (u *LogUploader) held() (lines, bytes int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.lines, u.bytes
}

// Run uploads every interval until ctx ends, waiting longer (up to a
// minute) while uploads keep failing.
func (u *LogUploader) Run(ctx context.Context) {
	wait := u.opts.Interval
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if ok, _ := u.Round(ctx); ok {
			wait = u.opts.Interval
		} else {
			wait = min(wait*2, maxRoundBackoff)
		}
		t.Reset(wait)
	}
}

// Flush makes one last round within ctx, on shutdown.
func (u *LogUploader) Flush(ctx context.Context) error {
	ok, err := u.Round(ctx)
	if err != nil {
		return err
	}
	if lines, _ := u.held(); !ok || lines > 0 {
		return fmt.Errorf("%d job log lines were not uploaded to the control plane before shutdown", lines)
	}
	return nil
}

// Round uploads what is buffered, job by job, oldest batch first. It stops
// at the first upload that fails after the client's retries (the control
// plane is unavailable) and reports false; that batch is tried first next
// time, as long as the buffer has room for it. A round that uploads
// anything is the root span "health log upload", its uploads the client's
// spans inside it; an idle round (every second) records nothing.
func (u *LogUploader) Round(ctx context.Context) (ok bool, _ error) {
	select {
	case u.round <- struct{}{}:
	case <-ctx.Done():
		return false, fmt.Errorf("upload job logs: another round did not finish in time: %w", ctx.Err())
	}
	defer func() { <-u.round }()
	defer u.gc()
	var (
		span           trace.Span
		batches, lines int
	)
	defer func() {
		if span == nil {
			return
		}
		span.SetAttributes(attribute.Int("secure_agent.log_batches", batches), attribute.Int("secure_agent.log_lines", lines))
		if !ok {
			span.SetStatus(codes.Error, "an upload failed; the batch is tried again in a later round")
		}
		span.End()
	}()
	for _, id := range u.jobIDs() {
		u.seal(id)
		for {
			b := u.next(id)
			if b == nil {
				break
			}
			if span == nil {
				ctx, span = u.tracer.Start(ctx, "health log upload", trace.WithNewRoot())
			}
			batches++
			lines += b.lines
			if !u.upload(ctx, span, id, b) {
				return false, nil
			}
		}
	}
	return true, nil
}

func (u *LogUploader) jobIDs() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	ids := make([]string, 0, len(u.jobs))
	for id := range u.jobs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// seal turns a job's pending lines (and its dropped count) into numbered
// batches. A job still holding batches is left alone until they are
// uploaded or evicted, so an outage does not pile up small batches.
func (u *LogUploader) seal(id string) {
	u.mu.Lock()
	j := u.jobs[id]
	if j == nil || len(j.batches) > 0 || (len(j.pending) == 0 && j.dropped == 0) {
		u.mu.Unlock()
		return
	}
	lines, dropped := j.pending, j.dropped
	j.pending, j.pendingBytes, j.dropped = nil, 0, 0
	u.mu.Unlock()

	// Compressing runs outside the lock so Accept never waits for it; the
	// lines stay counted in the buffer meanwhile.
	packed := packLines(lines)

	u.mu.Lock()
	defer u.mu.Unlock()
	for i, b := range packed {
		b.seq = u.seq
		u.seq++
		if i == 0 {
			b.dropped = dropped
		}
		j.batches = append(j.batches, b)
	}
}

// packLines cuts lines into gzip NDJSON bodies of at most maxUploadBody.
// No lines still make one (empty) batch, to carry a dropped count.
func packLines(lines []json.RawMessage) []*logBatch {
	return compressParts(lines, maxUploadRaw)
}

// compressParts cuts lines into runs of about limit raw bytes (at least one
// line each) and compresses each run.
func compressParts(lines []json.RawMessage, limit int) []*logBatch {
	var out []*logBatch
	start, size := 0, 0
	for i, l := range lines {
		if i > start && size+len(l)+1 > limit {
			out = append(out, compressLines(lines[start:i])...)
			start, size = i, 0
		}
		size += len(l) + 1
	}
	return append(out, compressLines(lines[start:])...)
}

// compressLines gzips lines into one body; a body over maxUploadBody is
// redone in as many parts, cut by size, as its ratio says it needs.
func compressLines(lines []json.RawMessage) []*logBatch {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	raw := 0
	for _, l := range lines {
		_, _ = zw.Write(l)
		_, _ = zw.Write([]byte{'\n'})
		raw += len(l) + 1
	}
	_ = zw.Close() // writes to memory cannot fail
	if buf.Len() <= maxUploadBody || len(lines) == 1 {
		return []*logBatch{{lines: len(lines), bytes: raw, body: buf.Bytes()}}
	}
	parts := buf.Len()/maxUploadBody + 1
	return compressParts(lines, raw/parts+1)
}

// next marks the job's oldest batch in flight and returns it.
func (u *LogUploader) next(id string) *logBatch {
	u.mu.Lock()
	defer u.mu.Unlock()
	j := u.jobs[id]
	if j == nil || len(j.batches) == 0 {
		return nil
	}
	b := j.batches[0]
	if b.failed {
		b.failed = false
		u.failed--
	}
	b.inflight = true
	return b
}

// done records an upload's outcome and says whether the round goes on.
func (u *LogUploader) done(ctx context.Context, id string, b *logBatch, err error) bool {
	log := logging.WithTrace(ctx, u.log)
	u.mu.Lock()
	j := u.jobs[id]
	b.inflight = false
	switch {
	case err == nil:
		u.removeLocked(j, b)
		u.mu.Unlock()
		u.metrics.uploaded.Add(float64(b.lines))
		u.metrics.batches.WithLabelValues("ok").Inc()
		if u.warn.ok() {
			log.Info("job logs reach the control plane again")
		}
		return true
	case ctx.Err() != nil:
		// Shutting down: not the control plane's failure; Flush tries again.
		u.mu.Unlock()
		return false
	case errkind.Of(err) == errkind.NotFound:
		// The control plane does not know the job (submitted locally, or
		// its lease is gone): the rest of its log would be refused too.
		lost := b.lines + len(j.pending)
		for _, o := range slices.Clone(j.batches) {
			if o != b {
				lost += o.lines
			}
			u.removeLocked(j, o)
		}
		u.lines -= len(j.pending)
		u.bytes -= j.pendingBytes
		j.pending, j.pendingBytes, j.dropped = nil, 0, 0
		j.refusedUntil = u.now().Add(refuseFor)
		u.mu.Unlock()
		u.metrics.drop(DropRejected, lost)
		u.metrics.batches.WithLabelValues("rejected").Inc()
		log.Warn("the control plane does not know this job; its log lines are dropped for a while",
			zap.String("job_id", id), zap.Int("lines_dropped", lost), zap.Duration("for", refuseFor), zap.Error(err))
		return true
	case errkind.Of(err) == errkind.Invalid || errkind.Of(err) == errkind.Conflict:
		u.removeLocked(j, b)
		u.mu.Unlock()
		u.metrics.drop(DropRejected, b.lines)
		u.metrics.batches.WithLabelValues("rejected").Inc()
		log.Warn("the control plane refused a job log batch; it is dropped",
			zap.String("job_id", id), zap.Int("sequence", b.seq), zap.Int("lines_dropped", b.lines), zap.Error(err))
		return true
	default:
		b.failed = true
		u.failed++
		u.mu.Unlock()
		u.metrics.batches.WithLabelValues("error").Inc()
		if show, held := u.warn.fail(u.now()); show {
			log.Warn("uploading job logs to the control plane failed; the batch is kept while the buffer has room",
				zap.Int("failures_not_logged", held), zap.Error(err))
		}
		return false
	}
}

// gc forgets jobs with nothing left to upload.
func (u *LogUploader) gc() {
	u.mu.Lock()
	defer u.mu.Unlock()
	now := u.now()
	for id, j := range u.jobs {
		if len(j.pending) == 0 && len(j.batches) == 0 && j.dropped == 0 && !now.Before(j.refusedUntil) {
			delete(u.jobs, id)
		}
	}
}

type uploadMetrics struct {
	dropped  *prometheus.CounterVec
	uploaded prometheus.Counter
	batches  *prometheus.CounterVec
}

func newUploadMetrics(reg prometheus.Registerer, held func() (int, int)) (*uploadMetrics, error) {
	m := &uploadMetrics{
		dropped:  metricdef.LogUploadDropped.CounterVec(),
		uploaded: metricdef.LogUploadLines.Counter(),
		batches:  metricdef.LogUploadBatches.CounterVec(),
	}
	for _, r := range []string{DropBufferFull, DropUploadFailed, DropRejected, DropTooLarge} {
		m.dropped.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "error", "rejected"} {
		m.batches.WithLabelValues(r)
	}
	buffered := metricdef.LogUploadBuffered.GaugeFunc(func() float64 { n, _ := held(); return float64(n) })
	if err := metricdef.Register(reg, m.dropped, m.uploaded, m.batches, buffered); err != nil {
		return nil, fmt.Errorf("log uploader: %w", err)
	}
	return m, nil
}

func (m *uploadMetrics) drop(reason string, n int) {
	if n > 0 {
		m.dropped.WithLabelValues(reason).Add(float64(n))
	}
}

// upload sends one batch of job id in a span of the job's own trace (a
// child of the span that wrote its first traced line, linked to the
// round), so the job's trace shows its logs reaching the control plane.
func (u *LogUploader) upload(ctx context.Context, round trace.Span, id string, b *logBatch) bool {
	u.mu.Lock()
	var written trace.SpanContext
	if j := u.jobs[id]; j != nil {
		written = j.written
	}
	u.mu.Unlock()
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithLinks(trace.Link{SpanContext: round.SpanContext()}),
		trace.WithAttributes(attribute.String("secure_agent.job.id", id), attribute.Int("secure_agent.log_lines", b.lines),
			attribute.Int("secure_agent.log_batch_seq", b.seq))}
	parent := ctx
	if written.IsValid() {
		parent = trace.ContextWithRemoteSpanContext(ctx, written)
	}
	ctx, span := u.tracer.Start(parent, "health upload job logs", opts...)
	defer span.End()
	err := u.opts.Sink.UploadLogs(ctx, id, b.seq, b.dropped, b.body)
	if err != nil {
		span.SetStatus(codes.Error, "upload failed")
	}
	return u.done(ctx, id, b, err)
}

// lineSpan is the span a shipped log line was written in (its trace_id and
// span_id fields, logging.WithTrace); invalid when it has none.
func lineSpan(l controlplane.LogLine) trace.SpanContext {
	tid, _ := l.Fields[logging.TraceIDKey].(string)
	sid, _ := l.Fields[logging.SpanIDKey].(string)
	traceID, err := trace.TraceIDFromHex(tid)
	if err != nil {
		return trace.SpanContext{}
	}
	spanID, err := trace.SpanIDFromHex(sid)
	if err != nil {
		return trace.SpanContext{}
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled, Remote: true})
}
