package logship

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/secure-agent/secure-agent/libs/logging"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Topic is the pub/sub topic of job log batches, job.TopicJobLogs; it is
// repeated here so bootstrap, which every service links, does not pull in
// libs/job and its Arrow dependency.
const Topic = "job-logs"

// Defaults of Options.
const (
	DefaultMaxLines       = 10_000
	DefaultMaxBytes       = 4 << 20
	DefaultInterval       = time.Second
	DefaultPublishTimeout = 5 * time.Second
	// maxMessageBytes bounds one published event, well under the broker's
	// message limit (1 MiB on a default NATS server).
	maxMessageBytes = 256 << 10
	// warnEvery spaces the shipper's own warnings while the broker is down.
	warnEvery = time.Minute
)

// Options configure a Shipper. Zero values take the defaults above.
type Options struct {
	// Service names the service in every line.
	Service string
	// Level decides which entries are kept; use the service's log level
	// (zapcore.LevelOf(logger.Core())). Nil means info.
	Level zapcore.LevelEnabler
	// MaxLines and MaxBytes bound the lines held between two publishes.
	MaxLines int
	MaxBytes int
	// Interval is how often Run publishes.
	Interval time.Duration
	// PublishTimeout bounds one publish.
	PublishTimeout time.Duration
	// Logger receives the shipper's own warnings (never with a job id, so
	// they are not shipped themselves). Nil discards them.
	Logger     *zap.Logger
	Registerer prometheus.Registerer
	// Secrets, if set, are cut from every shipped line (logging.Secrets).
	Secrets *logging.Secrets
}

// Shipper buffers job log lines and publishes them on the job-logs topic.
type Shipper struct {
	opts    Options
	pub     Publisher
	buf     *buffer
	metrics *metrics
	core    zapcore.Core
	log     *zap.Logger
	round   chan struct{} // one publishing round at a time (Run or Flush)

	warnMu   sync.Mutex
	lastWarn time.Time
	lostLog  int // lines lost since the last warning
}

// New builds a shipper publishing through pub.
func New(opts Options, pub Publisher) (*Shipper, error) {
	if pub == nil {
		return nil, errors.New("logship: a publisher is required")
	}
	if opts.Level == nil {
		opts.Level = zapcore.InfoLevel
	}
	opts.MaxLines = positiveOr(opts.MaxLines, DefaultMaxLines)
	opts.MaxBytes = positiveOr(opts.MaxBytes, DefaultMaxBytes)
	opts.Interval = positiveOr(opts.Interval, DefaultInterval)
	opts.PublishTimeout = positiveOr(opts.PublishTimeout, DefaultPublishTimeout)
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	s := &Shipper{opts: opts, pub: pub, log: opts.Logger, round: make(chan struct{}, 1)}
	m, err := newMetrics(opts.Registerer, func() (int, int) { return s.buf.size() })
	if err != nil {
		return nil, err
	}
	s.metrics = m
	full := m.dropped.WithLabelValues(ReasonBufferFull)
	s.buf = newBuffer(opts.MaxLines, opts.MaxBytes, func(n int) { full.Add(float64(n)) })
	s.core = newCaptureCore(opts.Level, opts.Service, s.buf, opts.Secrets)
	return s, nil
}

func positiveOr[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// Core captures the job lines written to it; tee it with the service's core.
func (s *Shipper) Core() zapcore.Core { return s.core }

// Tee is for zap.WrapCore: the service's core plus the capture core.
func (s *Shipper) Tee(c zapcore.Core) zapcore.Core { return zapcore.NewTee(c, s.core) }

// Run publishes the buffer every interval until ctx ends. A round already
// started finishes, each publish bounded by PublishTimeout, so lines taken
// from the buffer are not thrown away by the cancellation itself.
func (s *Shipper) Run(ctx context.Context) {
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		select {
		case s.round <- struct{}{}:
		case <-ctx.Done():
			return
		}
		s.ship(context.WithoutCancel(ctx))
		<-s.round
	}
}

// Flush publishes what is buffered now, within ctx; call it on shutdown
// after the service stopped logging for jobs. The error says how many lines
// could not be published.
func (s *Shipper) Flush(ctx context.Context) error {
	select {
	case s.round <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("logship: flush: a publishing round did not finish in time: %w", ctx.Err())
	}
	defer func() { <-s.round }()
	if lost := s.ship(ctx); lost > 0 {
		return fmt.Errorf("logship: flush: %d job log lines could not be published on topic %s", lost, Topic)
	}
	return nil
}

// ship publishes everything buffered and returns the lines lost. After a
// failed publish the round's remaining batches are not tried: the broker is
// evidently unavailable, and trying each would hold the round for a
// PublishTimeout per batch.
func (s *Shipper) ship(ctx context.Context) (lost int) {
	order, jobs := s.buf.take()
	var failure error
	for _, id := range order {
		if jobs[id] == nil {
			continue // cannot happen (buffer.job keys on its own copy); never panic over logs
		}
		for _, b := range split(s.opts.Service, id, jobs[id]) {
			if failure == nil {
				pctx, cancel := context.WithTimeout(ctx, s.opts.PublishTimeout)
				failure = s.pub.Publish(pctx, Topic, b)
				cancel()
				if failure == nil {
					s.metrics.published.Add(float64(len(b.Lines)))
					continue
				}
			}
			// The lines are lost; the job's next batch says how many,
			// together with the drops this batch was carrying.
			s.metrics.dropped.WithLabelValues(ReasonPublishFailed).Add(float64(len(b.Lines)))
			s.buf.lost(id, len(b.Lines)+b.Dropped)
			lost += len(b.Lines)
		}
	}
	if failure != nil {
		s.warn(failure, lost)
	}
	return lost
}

// split cuts one job's lines into events of at most maxMessageBytes; the
// first carries the job's dropped count. A job that only dropped lines still
// gets an event, so the count reaches the control plane.
func split(service, id string, j *jobLines) []wireBatch {
	var out []wireBatch
	cur := wireBatch{Service: service, JobID: id, Dropped: j.dropped}
	size := 0
	for _, l := range j.lines {
		if len(cur.Lines) > 0 && size+len(l)+1 > maxMessageBytes {
			out = append(out, cur)
			cur, size = wireBatch{Service: service, JobID: id}, 0
		}
		cur.Lines = append(cur.Lines, json.RawMessage(l))
		size += len(l) + 1
	}
	if len(cur.Lines) > 0 || cur.Dropped > 0 {
		out = append(out, cur)
	}
	return out
}

// warn logs a failed publish at most once per warnEvery, with the lines
// lost since the previous warning.
func (s *Shipper) warn(err error, lost int) {
	s.warnMu.Lock()
	s.lostLog += lost
	now := time.Now()
	if now.Sub(s.lastWarn) < warnEvery {
		s.warnMu.Unlock()
		return
	}
	n := s.lostLog
	s.lastWarn, s.lostLog = now, 0
	s.warnMu.Unlock()
	s.log.Warn("job log lines dropped: publishing to the job-logs topic failed; check the broker and this app's publishing scopes",
		zap.Int("lines_lost", n), zap.Error(err))
}
