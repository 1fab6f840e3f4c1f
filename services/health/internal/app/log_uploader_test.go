package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/secure-agent/secure-agent/libs/controlplane"
	"github.com/secure-agent/secure-agent/libs/logship"
)

var t0 = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

func newUploader(t *testing.T, sink LogSink, o LogUploaderOptions) *LogUploader {
	t.Helper()
	o.Sink = sink
	if o.Start.IsZero() {
		o.Start = t0
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	u, err := NewLogUploader(o)
	require.NoError(t, err)
	return u
}

func batchOf(job, service string, dropped int, msgs ...string) logship.Batch {
	b := logship.Batch{Service: service, JobID: job, Dropped: dropped}
	for _, m := range msgs {
		b.Lines = append(b.Lines, controlplane.LogLine{TS: t0, Level: "info", Service: service, Msg: m,
			Fields: map[string]any{"trace_id": "tr-1"}})
	}
	return b
}

func round(t *testing.T, u *LogUploader) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ok, err := u.Round(ctx)
	require.NoError(t, err)
	return ok
}

func dropped(u *LogUploader, reason string) float64 {
	return testutil.ToFloat64(u.metrics.dropped.WithLabelValues(reason))
}

// messages lists a job's stored lines in sequence order.
func messages(batches map[int]storedBatch) []string {
	seqs := make([]int, 0, len(batches))
	for s := range batches {
		seqs = append(seqs, s)
	}
	sort.Ints(seqs)
	var out []string
	for _, s := range seqs {
		for _, l := range batches[s].Lines {
			out = append(out, l.Msg)
		}
	}
	return out
}

func TestUploadsEachJobsLinesAsGzipNDJSON(t *testing.T) {
	cp := newFakeControlPlane(t, "job-a", "job-b")
	u := newUploader(t, cp.client(t, 0), LogUploaderOptions{})
	require.NoError(t, u.Accept(batchOf("job-a", "extractor", 2, "a1", "a2")))
	require.NoError(t, u.Accept(batchOf("job-b", "orchestrator", 0, "b1")))
	require.NoError(t, u.Accept(batchOf("job-a", "publisher", 0, "a3")))
	require.NoError(t, u.Accept(logship.Batch{Service: "extractor", JobID: "job-a", Lines: []controlplane.LogLine{{}}}))

	require.True(t, round(t, u))
	a := cp.stored("job-a")
	require.Len(t, a, 1)
	for seq, b := range a {
		require.GreaterOrEqual(t, seq, int(t0.UnixMilli()*1000))
		require.Equal(t, 2, b.Dropped, "the service's own drops reach the control plane")
		require.Equal(t, "extractor", b.Lines[0].Service)
		require.Equal(t, "publisher", b.Lines[2].Service)
		require.Equal(t, "tr-1", b.Lines[0].Fields["trace_id"])
		require.Equal(t, "extractor", b.Lines[3].Service, "a line without service gets the batch's")
		require.Equal(t, noLogMessage, b.Lines[3].Msg, "the API requires ts, level and msg")
		require.Equal(t, "info", b.Lines[3].Level)
		require.False(t, b.Lines[3].TS.IsZero())
	}
	require.Equal(t, []string{"a1", "a2", "a3", noLogMessage}, messages(a))
	require.Equal(t, []string{"b1"}, messages(cp.stored("job-b")))
	require.Equal(t, 5.0, testutil.ToFloat64(u.metrics.uploaded))
	lines, bytes := u.held()
	require.Zero(t, lines)
	require.Zero(t, bytes)

	// Nothing new: nothing is sent.
	require.True(t, round(t, u))
	require.Len(t, cp.uploads(), 2)
	require.Empty(t, u.jobs, "finished jobs are forgotten")
}

func TestRetries429And5xxWithTheSameSequence(t *testing.T) {
	cp := newFakeControlPlane(t, "job-a")
	u := newUploader(t, cp.client(t, 2), LogUploaderOptions{})
	cp.push("POST /jobs/*/logs", 429, 503)
	require.NoError(t, u.Accept(batchOf("job-a", "extractor", 0, "one")))
	require.True(t, round(t, u), "the client's retries got it through")

	up := cp.uploads()
	require.Len(t, up, 3)
	require.Equal(t, up[0].seq, up[2].seq, "a retry repeats the batch's sequence")
	require.Equal(t, []string{"one"}, messages(cp.stored("job-a")))

	// More failures than the client retries: the batch is kept and the
	// next round sends it again, with the same sequence.
	cp.push("POST /jobs/*/logs", 502, 502, 502)
	require.NoError(t, u.Accept(batchOf("job-a", "extractor", 0, "two")))
	require.False(t, round(t, u))
	require.Equal(t, 1.0, testutil.ToFloat64(u.metrics.batches.WithLabelValues("error")))
	lines, _ := u.held()
	require.Equal(t, 1, lines, "the failed batch is still held")
	require.True(t, round(t, u))
	up = cp.uploads()
	require.Len(t, up, 7)
	require.Equal(t, up[3].seq, up[6].seq)
	require.Greater(t, up[6].seq, up[0].seq)
	require.Equal(t, []string{"one", "two"}, messages(cp.stored("job-a")))
	require.Zero(t, dropped(u, DropUploadFailed))
}

func TestFullBufferDropsCountsAndReports(t *testing.T) {
	cp := newFakeControlPlane(t, "job-a")
	u := newUploader(t, cp.client(t, 0), LogUploaderOptions{MaxLines: 3})
	require.NoError(t, u.Accept(batchOf("job-a", "extractor", 1, "1", "2", "3", "4", "5")))
	require.Equal(t, 2.0, dropped(u, DropBufferFull))
	require.True(t, round(t, u))
	a := cp.stored("job-a")
	require.Equal(t, []string{"1", "2", "3"}, messages(a))
	for _, b := range a {
		require.Equal(t, 3, b.Dropped, "one the service lost and two health dropped")
	}
}

func TestFailedBatchGivesWayToNewerLinesWhenTheBufferIsFull(t *testing.T) {
	cp := newFakeControlPlane(t, "job-a")
	core, logs := observer.New(zapcore.InfoLevel)
	u := newUploader(t, cp.client(t, 0), LogUploaderOptions{MaxLines: 4, Logger: zap.New(core)})
	cp.setDown(true)
	require.NoError(t, u.Accept(batchOf("job-a", "extractor", 0, "old1", "old2", "old3")))
	require.False(t, round(t, u))
	require.False(t, round(t, u))
	require.Len(t, logs.FilterMessageSnippet("uploading job logs to the control plane failed").All(), 1, "warned once, not every round")

	// Room while it lasts, then the failed batch is dropped for newer lines.
	require.NoError(t, u.Accept(batchOf("job-a", "extractor", 0, "new1")))
	require.Zero(t, dropped(u, DropUploadFailed))
	require.NoError(t, u.Accept(batchOf("job-a", "extractor", 0, "new2", "new3")))
	require.Equal(t, 3.0, dropped(u, DropUploadFailed))
	require.Zero(t, dropped(u, DropBufferFull))

	cp.setDown(false)
	require.True(t, round(t, u))
	a := cp.stored("job-a")
	require.Equal(t, []string{"new1", "new2", "new3"}, messages(a))
	for _, b := range a {
		require.Equal(t, 3, b.Dropped, "the control plane learns the evicted lines are gone")
	}
	up := cp.uploads()
	require.Greater(t, up[len(up)-1].seq, up[0].seq, "sequence numbers only grow, with a gap for the dropped batch")
	require.NotEmpty(t, logs.FilterMessage("job logs reach the control plane again").All())
}

func TestSequencesStayUniqueAcrossARestart(t *testing.T) {
	cp := newFakeControlPlane(t, "job-a")
	first := newUploader(t, cp.client(t, 0), LogUploaderOptions{Start: t0})
	for i := range 3 {
		require.NoError(t, first.Accept(batchOf("job-a", "extractor", 0, fmt.Sprintf("before-%d", i))))
		require.True(t, round(t, first))
	}
	// Health restarts a millisecond later (the worst case) and the job
	// goes on logging.
	second := newUploader(t, cp.client(t, 0), LogUploaderOptions{Start: t0.Add(time.Millisecond)})
	for i := range 3 {
		require.NoError(t, second.Accept(batchOf("job-a", "extractor", 0, fmt.Sprintf("after-%d", i))))
		require.True(t, round(t, second))
	}
	require.Equal(t, []string{"before-0", "before-1", "before-2", "after-0", "after-1", "after-2"},
		messages(cp.stored("job-a")), "no batch was taken for a repeat and ignored")
	seen := map[int]bool{}
	prev := -1
	for _, a := range cp.uploads() {
		require.False(t, seen[a.seq], "sequence %d sent for two batches", a.seq)
		require.Greater(t, a.seq, prev)
		seen[a.seq], prev = true, a.seq
	}
}

func TestUnknownJobIsDroppedForAWhile(t *testing.T) {
	cp := newFakeControlPlane(t, "job-a")
	u := newUploader(t, cp.client(t, 3), LogUploaderOptions{})
	require.NoError(t, u.Accept(batchOf("local-job", "extractor", 0, "x1", "x2")))
	require.NoError(t, u.Accept(batchOf("job-a", "extractor", 0, "a1")))
	require.True(t, round(t, u), "a refused job does not stop the others")
	require.Equal(t, []string{"a1"}, messages(cp.stored("job-a")))
	require.Equal(t, 2.0, dropped(u, DropRejected))

	require.NoError(t, u.Accept(batchOf("local-job", "extractor", 0, "x3")))
	require.Equal(t, 3.0, dropped(u, DropRejected))
	require.True(t, round(t, u))
	require.Len(t, cp.uploads(), 2, "no new upload for the refused job, and 404 is not retried")
	lines, _ := u.held()
	require.Zero(t, lines)

	u.now = func() time.Time { return time.Now().Add(refuseFor + time.Second) }
	require.NoError(t, u.Accept(batchOf("local-job", "extractor", 0, "x4")))
	require.True(t, round(t, u))
	require.Len(t, cp.uploads(), 3, "tried again once the refusal expired")
}

func TestAcceptNeverWaitsForTheControlPlane(t *testing.T) {
	cp := newFakeControlPlane(t, "job-a")
	cp.hold, cp.held = make(chan struct{}), make(chan struct{})
	u := newUploader(t, cp.client(t, 0), LogUploaderOptions{MaxLines: 100})
	require.NoError(t, u.Accept(batchOf("job-a", "extractor", 0, "first")))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	roundDone := make(chan struct{})
	go func() {
		defer close(roundDone)
		_, _ = u.Round(ctx)
	}()
	select {
	case <-cp.held:
	case <-time.After(5 * time.Second):
		t.Fatal("the round never reached the control plane")
	}
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for i := range 500 {
			_ = u.Accept(batchOf("job-a", "extractor", 0, fmt.Sprint(i)))
		}
	}()
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("Accept waited for a stuck upload")
	}
	require.Equal(t, 401.0, dropped(u, DropBufferFull), "the first line is in flight and counted")

	close(cp.hold)
	<-roundDone
}

func TestBatchesOverOneMiBAreSplit(t *testing.T) {
	cp := newFakeControlPlane(t, "job-a")
	u := newUploader(t, cp.client(t, 0), LogUploaderOptions{MaxBytes: 64 << 20})
	// Random text does not compress: 24 lines of 64 KiB need two bodies.
	var msgs []string
	for range 24 {
		b := make([]byte, 48<<10)
		_, _ = rand.Read(b)
		msgs = append(msgs, base64.StdEncoding.EncodeToString(b))
	}
	require.NoError(t, u.Accept(batchOf("job-a", "extractor", 0, msgs...)))
	require.True(t, round(t, u))
	up := cp.uploads()
	require.Len(t, up, 2)
	for _, a := range up {
		require.LessOrEqual(t, a.size, maxUploadBody)
	}
	require.Equal(t, msgs, messages(cp.stored("job-a")), "every line once, in order")
}

func TestOverlongLineIsDroppedAndCounted(t *testing.T) {
	cp := newFakeControlPlane(t, "job-a")
	u := newUploader(t, cp.client(t, 0), LogUploaderOptions{})
	huge := make([]byte, maxUploadLine)
	for i := range huge {
		huge[i] = 'h'
	}
	require.NoError(t, u.Accept(batchOf("job-a", "extractor", 0, "ok", string(huge))))
	require.Equal(t, 1.0, dropped(u, DropTooLarge))
	require.True(t, round(t, u))
	for _, b := range cp.stored("job-a") {
		require.Equal(t, 1, b.Dropped)
		require.Len(t, b.Lines, 1)
	}
}

func TestAcceptRefusesAnEventWithoutJob(t *testing.T) {
	u := newUploader(t, newFakeControlPlane(t).client(t, 0), LogUploaderOptions{})
	require.ErrorContains(t, u.Accept(logship.Batch{Service: "extractor"}), "has no job_id")
}

func TestFlushUploadsOnShutdownAndSaysWhatWasLeft(t *testing.T) {
	cp := newFakeControlPlane(t, "job-a")
	u := newUploader(t, cp.client(t, 0), LogUploaderOptions{})
	require.NoError(t, u.Accept(batchOf("job-a", "extractor", 0, "last words")))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, u.Flush(ctx))
	require.Equal(t, []string{"last words"}, messages(cp.stored("job-a")))

	cp.setDown(true)
	require.NoError(t, u.Accept(batchOf("job-a", "extractor", 0, "lost")))
	require.ErrorContains(t, u.Flush(ctx), "1 job log lines were not uploaded")
}

func TestRunUploadsEveryInterval(t *testing.T) {
	cp := newFakeControlPlane(t, "job-a")
	u := newUploader(t, cp.client(t, 0), LogUploaderOptions{Interval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		u.Run(ctx)
	}()
	require.NoError(t, u.Accept(batchOf("job-a", "extractor", 0, "one")))
	require.Eventually(t, func() bool { return len(messages(cp.stored("job-a"))) == 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, u.Accept(batchOf("job-a", "extractor", 0, "two")))
	require.Eventually(t, func() bool { return len(messages(cp.stored("job-a"))) == 2 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	<-done
}

func TestPackLinesStaysUnderTheLimit(t *testing.T) {
	require.Len(t, packLines(nil), 1, "no lines still make a batch, to carry a dropped count")
	line, _ := json.Marshal(controlplane.LogLine{TS: t0, Level: "info", Msg: "m"})
	lines := make([]json.RawMessage, 1000)
	for i := range lines {
		lines[i] = line
	}
	got := packLines(lines)
	require.Len(t, got, 1)
	require.Equal(t, 1000, got[0].lines)
	require.Equal(t, 1000*(len(line)+1), got[0].bytes)
}
