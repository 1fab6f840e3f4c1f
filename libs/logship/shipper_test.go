package logship

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/logging"
	"github.com/secure-agent/secure-agent/libs/metricdef"
	"github.com/secure-agent/secure-agent/libs/pubsub"
)

// canary is a secret that must never leave the process.
const canary = "s3cr3t-Canary-7d1c"

// broker stands in for the Dapr client under the real pubsub.Publisher, so
// batches go through the same JSON encoding as in production.
type broker struct {
	mu      sync.Mutex
	events  [][]byte
	fail    error
	block   chan struct{} // when set, PublishEvent waits for it to close, ignoring ctx
	blocked chan struct{} // closed when the first blocked publish started
	once    sync.Once
}

func (b *broker) PublishEvent(_ context.Context, pubsubName, topic string, data interface{}, _ ...dapr.PublishEventOption) error {
	if b.block != nil {
		b.once.Do(func() { close(b.blocked) })
		<-b.block
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail != nil {
		return b.fail
	}
	if pubsubName != "pubsub" || topic != job.TopicJobLogs {
		return errors.New("unexpected pubsub " + pubsubName + " topic " + topic)
	}
	b.events = append(b.events, append([]byte(nil), data.([]byte)...))
	return nil
}

func (b *broker) setFail(err error) {
	b.mu.Lock()
	b.fail = err
	b.mu.Unlock()
}

// batches decodes every event published so far.
func (b *broker) batches(t *testing.T) []Batch {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Batch, 0, len(b.events))
	for _, raw := range b.events {
		var bt Batch
		require.NoError(t, json.Unmarshal(raw, &bt), "event: %s", raw)
		out = append(out, bt)
	}
	return out
}

type rig struct {
	s      *Shipper
	broker *broker
	reg    *prometheus.Registry
	out    *bytes.Buffer // the service's own log output
	log    *zap.Logger   // the service's logger teed with the capture core
}

func newRig(t *testing.T, opts Options) *rig {
	t.Helper()
	r := &rig{broker: &broker{}, reg: prometheus.NewRegistry(), out: &bytes.Buffer{}}
	base, err := logging.New(logging.Options{Service: "extractor", Level: "info", Output: zapcore.AddSync(r.out)})
	require.NoError(t, err)
	opts.Service = "extractor"
	opts.Level = zapcore.LevelOf(base.Core())
	opts.Registerer = r.reg
	r.s, err = New(opts, pubsub.NewPublisher(r.broker, "pubsub"))
	require.NoError(t, err)
	r.log = base.WithOptions(zap.WrapCore(r.s.Tee))
	return r
}

func (r *rig) dropped(reason string) float64 {
	return testutil.ToFloat64(r.s.metrics.dropped.WithLabelValues(reason))
}

func flush(t *testing.T, s *Shipper) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Flush(ctx)
}

func msgs(b Batch) []string {
	var out []string
	for _, l := range b.Lines {
		out = append(out, l.Msg)
	}
	return out
}

func TestCapturesOnlyLinesOfAJob(t *testing.T) {
	r := newRig(t, Options{})
	r.log.Info("starting up")
	r.log.Info("on the entry", zap.String("job_id", "job-a"), zap.Int("rows", 3))
	jobB := r.log.With(zap.String("job_id", "job-b"), zap.String("trace_id", "t1"))
	jobB.Info("from with fields", zap.String("partition", "p000"))
	jobB.Named("publisher").Warn("named child")
	jobB.Debug("below the service's level")
	r.log.Info("job_id of another type is not a job", zap.Int("job_id", 7))
	r.log.With(zap.Namespace("detail")).Info("nested job_id is not a job", zap.String("job_id", "job-c"))
	jobB.With(zap.String("job_id", "job-d")).Info("the last job_id wins")

	require.NoError(t, flush(t, r.s))
	got := r.broker.batches(t)
	require.Len(t, got, 3)

	require.Equal(t, "job-a", got[0].JobID)
	require.Equal(t, "extractor", got[0].Service)
	require.Equal(t, []string{"on the entry"}, msgs(got[0]))
	a := got[0].Lines[0]
	require.Equal(t, "info", a.Level)
	require.Equal(t, "extractor", a.Service)
	require.WithinDuration(t, time.Now(), a.TS, time.Minute)
	require.EqualValues(t, 3, a.Fields["rows"])
	require.NotContains(t, a.Fields, "job_id", "the batch names the job")
	require.Contains(t, a.Fields["caller"], "shipper_test.go")

	require.Equal(t, "job-b", got[1].JobID)
	require.Equal(t, []string{"from with fields", "named child"}, msgs(got[1]))
	require.Equal(t, "t1", got[1].Lines[0].Fields["trace_id"])
	require.Equal(t, "p000", got[1].Lines[0].Fields["partition"])
	require.Equal(t, "warn", got[1].Lines[1].Level)
	require.Equal(t, "publisher", got[1].Lines[1].Fields["logger"])

	require.Equal(t, "job-d", got[2].JobID)
	require.Equal(t, []string{"the last job_id wins"}, msgs(got[2]))

	require.Equal(t, 4.0, testutil.ToFloat64(r.s.metrics.published))
	require.Contains(t, r.out.String(), "starting up", "the service's own output is untouched")
}

func TestLinesAreRedactedAsTheServiceOutputIs(t *testing.T) {
	r := newRig(t, Options{})
	type conn struct {
		Host     string
		Password string
	}
	l := r.log.With(zap.String("job_id", "job-a"), zap.String("dsn", "postgres://u:"+canary+"@db/x"))
	l.Info("dial postgres://admin:"+canary+"@db.internal:5432/app failed",
		zap.String("password", canary),
		zap.Error(errors.New("open root:"+canary+"@tcp(db:3306)/meta")),
		zap.Any("conn", conn{Host: "db", Password: canary}),
		zap.Stringer("url", stringer("https://u:"+canary+"@h/")))

	require.NoError(t, flush(t, r.s))
	r.broker.mu.Lock()
	raw := bytes.Join(r.broker.events, nil)
	r.broker.mu.Unlock()
	require.NotEmpty(t, raw)
	require.NotContains(t, string(raw), canary, "a secret was shipped")
	require.NotContains(t, r.out.String(), canary)

	// The shipped line says what the service's own line says.
	var own map[string]any
	require.NoError(t, json.Unmarshal(r.out.Bytes(), &own))
	got := r.broker.batches(t)
	require.Len(t, got, 1)
	line := got[0].Lines[0]
	require.Equal(t, own["msg"], line.Msg)
	for _, k := range []string{"dsn", "password", "error", "conn", "url"} {
		require.Equal(t, own[k], line.Fields[k], "field %s", k)
	}
	require.Equal(t, logging.Redacted, line.Fields["password"])
}

type stringer string

func (s stringer) String() string { return string(s) }

func TestFullBufferDropsAndCounts(t *testing.T) {
	r := newRig(t, Options{MaxLines: 3})
	l := r.log.With(zap.String("job_id", "job-a"))
	for i := range 5 {
		l.Info("line", zap.Int("i", i))
	}
	r.log.Info("other job", zap.String("job_id", "job-b"))
	require.Equal(t, 3.0, r.dropped(ReasonBufferFull))
	lines, _ := r.s.buf.size()
	require.Equal(t, 3, lines)

	require.NoError(t, flush(t, r.s))
	got := r.broker.batches(t)
	require.Len(t, got, 2)
	require.Equal(t, "job-a", got[0].JobID)
	require.Len(t, got[0].Lines, 3, "the first lines are kept, the later ones dropped")
	require.EqualValues(t, 0, got[0].Lines[0].Fields["i"])
	require.Equal(t, 2, got[0].Dropped)
	require.Equal(t, "job-b", got[1].JobID)
	require.Empty(t, got[1].Lines)
	require.Equal(t, 1, got[1].Dropped, "a job that only dropped lines still reports them")

	// The buffer has room again once published, and counts start afresh.
	l.Info("after")
	require.NoError(t, flush(t, r.s))
	got = r.broker.batches(t)
	require.Len(t, got, 3)
	require.Equal(t, []string{"after"}, msgs(got[2]))
	require.Zero(t, got[2].Dropped)
}

func TestByteLimitDropsToo(t *testing.T) {
	r := newRig(t, Options{MaxBytes: 1000})
	l := r.log.With(zap.String("job_id", "job-a"))
	for range 10 {
		l.Info(strings.Repeat("x", 300))
	}
	lines, bytes := r.s.buf.size()
	require.LessOrEqual(t, bytes, 1000)
	require.Positive(t, lines)
	require.Less(t, lines, 4, "each line is over 300 bytes")
	require.Equal(t, float64(10-lines), r.dropped(ReasonBufferFull))
}

func TestPublishFailureDropsTheBatchAndReportsItNextTime(t *testing.T) {
	r := newRig(t, Options{})
	core, logs := observer.New(zapcore.InfoLevel)
	r.s.log = zap.New(core)
	r.broker.setFail(errors.New("broker unavailable"))
	l := r.log.With(zap.String("job_id", "job-a"))
	l.Info("one")
	l.Info("two")
	r.log.Info("three", zap.String("job_id", "job-b"))

	err := flush(t, r.s)
	require.ErrorContains(t, err, "3 job log lines could not be published")
	require.Equal(t, 3.0, r.dropped(ReasonPublishFailed))
	require.Empty(t, r.broker.batches(t))
	require.Len(t, logs.All(), 1, "one warning for the round")
	require.NotContains(t, logs.All()[0].ContextMap(), "job_id", "the warning must not be shipped itself")

	// Still failing: only the counts are pending, and they are kept for the
	// next try; the warning comes once a minute at most.
	require.NoError(t, flush(t, r.s), "no line was lost this time")
	require.Equal(t, 3.0, r.dropped(ReasonPublishFailed))
	require.Len(t, logs.All(), 1)

	r.broker.setFail(nil)
	l.Info("four")
	require.NoError(t, flush(t, r.s))
	got := r.broker.batches(t)
	require.Len(t, got, 2)
	require.Equal(t, "job-a", got[0].JobID)
	require.Equal(t, []string{"four"}, msgs(got[0]))
	require.Equal(t, 2, got[0].Dropped)
	require.Equal(t, "job-b", got[1].JobID)
	require.Equal(t, 1, got[1].Dropped)
}

func TestLoggingNeverWaitsForAStuckPublisher(t *testing.T) {
	r := newRig(t, Options{Interval: 5 * time.Millisecond, MaxLines: 100})
	r.broker.block = make(chan struct{})
	r.broker.blocked = make(chan struct{})
	released := false
	release := func() {
		if !released {
			released = true
			close(r.broker.block)
		}
	}
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		r.s.Run(ctx)
	}()

	l := r.log.With(zap.String("job_id", "job-a"))
	l.Info("first")
	select {
	case <-r.broker.blocked:
	case <-time.After(5 * time.Second):
		t.Fatal("Run never published")
	}
	// The publisher is stuck. Logging goes on at full speed and the
	// buffer overflows instead of waiting.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 10_000 {
			l.Info("busy", zap.Int("i", i))
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("logging blocked behind the stuck publisher")
	}
	require.Equal(t, 10_000.0-100, r.dropped(ReasonBufferFull))

	// Flush gives up when its context ends rather than waiting on the round.
	fctx, fcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer fcancel()
	require.ErrorIs(t, r.s.Flush(fctx), context.DeadlineExceeded)

	cancel()
	release()
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop after its context ended")
	}
}

func TestRunPublishesEveryIntervalAndFlushShipsTheRest(t *testing.T) {
	r := newRig(t, Options{Interval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		r.s.Run(ctx)
	}()
	l := r.log.With(zap.String("job_id", "job-a"))
	l.Info("while running")
	require.Eventually(t, func() bool { return len(r.broker.batches(t)) == 1 }, 5*time.Second, 5*time.Millisecond)

	cancel()
	<-ran
	l.Info("during shutdown")
	require.Len(t, r.broker.batches(t), 1, "Run has stopped")
	require.NoError(t, flush(t, r.s))
	got := r.broker.batches(t)
	require.Len(t, got, 2)
	require.Equal(t, []string{"during shutdown"}, msgs(got[1]))
}

func TestLargeJobLogsAreSplitIntoBoundedEvents(t *testing.T) {
	r := newRig(t, Options{})
	l := r.log.With(zap.String("job_id", "job-a"))
	for range 2 {
		l.Info("huge", zap.String("blob", strings.Repeat("y", 100_000)))
	}
	for i := range 300 {
		l.Info("line", zap.String("pad", strings.Repeat("z", 2000)), zap.Int("i", i))
	}
	l.Info("")
	require.NoError(t, flush(t, r.s))

	r.broker.mu.Lock()
	for _, ev := range r.broker.events {
		require.LessOrEqual(t, len(ev), maxMessageBytes+1024)
	}
	r.broker.mu.Unlock()
	got := r.broker.batches(t)
	require.Greater(t, len(got), 1)
	var all []string
	for _, b := range got {
		require.Equal(t, "job-a", b.JobID)
		all = append(all, msgs(b)...)
	}
	require.Len(t, all, 303, "nothing lost in splitting, order kept")
	require.Equal(t, "huge", all[0])
	first := got[0].Lines[0]
	require.Contains(t, first.Fields["truncated"], "over the 32768-byte limit")
	require.NotContains(t, first.Fields, "blob")
	require.Equal(t, noMessage, all[302], "the control plane requires a message")
}

func TestTopicIsTheJobLogsTopic(t *testing.T) {
	require.Equal(t, job.TopicJobLogs, Topic)
}

func TestMetricsAreTheCatalogues(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, err := New(Options{Registerer: reg}, pubsub.NewPublisher(&broker{}, "pubsub"))
	require.NoError(t, err)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	require.ElementsMatch(t, []string{metricdef.JobLogLinesDropped.Name, metricdef.JobLogLinesPublished.Name,
		metricdef.JobLogBuffered.Name}, names)
}

func TestNewRejectsADuplicateRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, err := New(Options{Registerer: reg}, pubsub.NewPublisher(&broker{}, "pubsub"))
	require.NoError(t, err)
	_, err = New(Options{Registerer: reg}, pubsub.NewPublisher(&broker{}, "pubsub"))
	require.ErrorContains(t, err, "job log shipping: register metrics")
	_, err = New(Options{}, nil)
	require.ErrorContains(t, err, "publisher is required")
}

// A job id may alias memory its caller reuses (fasthttp's path parameters
// do): the buffer must key on its own copy, or a later take finds the
// mutated id missing from its map (a nil dereference in the shipper).
func TestJobIDAliasingReusedMemory(t *testing.T) {
	b := newBuffer(100, 1<<20, func(int) {})
	raw := []byte("job-aaaa")
	id := unsafe.String(&raw[0], len(raw))
	b.add(id, []byte(`{"msg":"one"}`))
	copy(raw, "job-bbbb")
	order, jobs := b.take()
	require.Equal(t, []string{"job-aaaa"}, order)
	require.NotNil(t, jobs[order[0]])
	require.Len(t, jobs[order[0]].lines, 1)
}
