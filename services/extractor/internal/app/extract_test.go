package app

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

type harness struct {
	x       *Extractor
	opener  *fakeOpener
	staging *memStore
	events  *memEvents
	records *memRecords
	logs    *observer.ObservedLogs
}

func newHarness(t *testing.T, concurrency int, mk func(connector.Source) connector.Connector) *harness {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	h := &harness{opener: &fakeOpener{make: mk}, staging: &memStore{}, events: &memEvents{}, records: &memRecords{}, logs: logs}
	x, err := NewExtractor(ExtractorOptions{
		Connectors: h.opener, Credentials: noCreds{}, Staging: h.staging, Events: h.events, Records: h.records,
		FileBytes: 1 << 20, Concurrency: concurrency, Logger: zap.New(core),
	})
	require.NoError(t, err)
	h.x = x
	return h
}

func request(partition string, attempt int) job.ExtractRequest {
	return job.ExtractRequest{JobID: "job-1", Partition: job.Partition{ID: partition, Database: partition}, Attempt: attempt,
		Spec: job.Spec{Version: 1, Connection: "conn", Source: job.Source{Kind: "sqlite", DSN: "/x.db"}}}
}

// waitLogged polls for a log message.
func (h *harness) waitLogged(t *testing.T, msg string, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return h.logs.FilterMessage(msg).Len() >= n }, 10*time.Second, 5*time.Millisecond, msg)
}

// A request delivered again while its partition is being extracted waits
// for that work and answers with its outcome: one run, one PartitionDone.
func TestRedeliveryWhileRunningJoinsTheRun(t *testing.T) {
	gate, entered := make(chan struct{}), make(chan string, 4)
	h := newHarness(t, 2, func(src connector.Source) connector.Connector {
		return &fakeConnector{gate: gate, entered: entered, src: src}
	})
	errs := make(chan error, 2)
	go func() { errs <- h.x.Handle(context.Background(), request("p000", 1)) }()
	<-entered
	go func() { errs <- h.x.Handle(context.Background(), request("p000", 1)) }()
	h.waitLogged(t, "partition already being extracted here; waiting for that work", 1)
	close(gate)
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)

	require.Equal(t, 1, h.opener.count(), "one run only")
	dones := h.events.dones()
	require.Len(t, dones, 1)
	require.True(t, dones[0].OK)
	require.Equal(t, 1, h.staging.len())
	require.Equal(t, 1.0, counterValue(t, h.x.metrics, ResultJoined))
}

// A later attempt arriving while an earlier one runs waits, then is
// answered from the finished run's record with its own attempt.
func TestLaterAttemptWhileRunningIsAnsweredFromTheRecord(t *testing.T) {
	gate, entered := make(chan struct{}), make(chan string, 4)
	h := newHarness(t, 2, func(src connector.Source) connector.Connector {
		return &fakeConnector{gate: gate, entered: entered, src: src}
	})
	errs := make(chan error, 2)
	go func() { errs <- h.x.Handle(context.Background(), request("p000", 1)) }()
	<-entered
	go func() { errs <- h.x.Handle(context.Background(), request("p000", 2)) }()
	h.waitLogged(t, "partition already being extracted here; waiting for that work", 1)
	close(gate)
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)

	require.Equal(t, 1, h.opener.count())
	dones := h.events.dones()
	require.Len(t, dones, 2)
	require.Equal(t, dones[0].Run, dones[1].Run)
	require.ElementsMatch(t, []int{1, 2}, []int{dones[0].Attempt, dones[1].Attempt})
}

// At most Concurrency partitions are extracted at once.
func TestConcurrencyIsBounded(t *testing.T) {
	gate, entered := make(chan struct{}), make(chan string, 8)
	var mu sync.Mutex
	running, most := 0, 0
	h := newHarness(t, 2, func(src connector.Source) connector.Connector {
		return &fakeConnector{gate: gate, entered: entered, src: src, mu: &mu, running: &running, maxFound: &most}
	})
	errs := make(chan error, 5)
	for _, p := range []string{"p000", "p001", "p002", "p003", "p004"} {
		go func() { errs <- h.x.Handle(context.Background(), request(p, 1)) }()
	}
	<-entered
	<-entered
	select {
	case db := <-entered:
		t.Fatalf("a third partition (%s) started while two were running", db)
	case <-time.After(200 * time.Millisecond):
	}
	close(gate)
	for range 5 {
		require.NoError(t, <-errs)
	}
	require.Equal(t, 2, most)
	require.Len(t, h.events.dones(), 5)
}

// A state store that cannot be read makes the message come back later.
func TestRecordStoreFailureAsksForRedelivery(t *testing.T) {
	h := newHarness(t, 1, func(src connector.Source) connector.Connector { return &fakeConnector{src: src} })
	h.records.failGet = errkind.Wrap(errkind.Transient, errBoom, "read state")
	err := h.x.Handle(context.Background(), request("p000", 1))
	require.Equal(t, errkind.Retry, errkind.PubSubStatus(err))
	require.Empty(t, h.events.dones())
	require.Zero(t, h.opener.count())
}

// Stopping the service interrupts a run without announcing a failure: the
// message is redelivered and starts a new run.
func TestShutdownInterruptsWithoutAnnouncing(t *testing.T) {
	gate, entered := make(chan struct{}), make(chan string, 1)
	lifetime, stop := context.WithCancel(context.Background())
	h := newHarness(t, 1, func(src connector.Source) connector.Connector {
		return &fakeConnector{gate: gate, entered: entered, src: src}
	})
	h.x.o.Lifetime = lifetime
	errs := make(chan error, 1)
	go func() { errs <- h.x.Handle(context.Background(), request("p000", 1)) }()
	<-entered
	stop()
	err := <-errs
	require.Equal(t, errkind.Retry, errkind.PubSubStatus(err))
	require.Empty(t, h.events.dones())
	require.Empty(t, h.records.records)
}

// Invalid requests are dropped and counted.
func TestInvalidRequests(t *testing.T) {
	h := newHarness(t, 1, func(src connector.Source) connector.Connector { return &fakeConnector{src: src} })
	for name, mut := range map[string]func(*job.ExtractRequest){
		"empty job id":      func(r *job.ExtractRequest) { r.JobID = "" },
		"job id with slash": func(r *job.ExtractRequest) { r.JobID = "a/b" },
		"no partition id":   func(r *job.ExtractRequest) { r.Partition.ID = "" },
		"attempt zero":      func(r *job.ExtractRequest) { r.Attempt = 0 },
		"invalid spec":      func(r *job.ExtractRequest) { r.Spec.Source.Kind = "oracle" },
	} {
		req := request("p000", 1)
		mut(&req)
		err := h.x.Handle(context.Background(), req)
		require.Equal(t, errkind.Drop, errkind.PubSubStatus(err), name)
	}
	require.Equal(t, 5.0, counterValue(t, h.x.metrics, ResultInvalid))
	require.Zero(t, h.opener.count())
}

func counterValue(t *testing.T, m *Metrics, result string) float64 {
	t.Helper()
	return testutil.ToFloat64(m.requests.WithLabelValues(result))
}
