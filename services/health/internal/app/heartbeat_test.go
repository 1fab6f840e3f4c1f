package app

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/secure-agent/secure-agent/libs/bootstrap"
	"github.com/secure-agent/secure-agent/libs/controlplane"
	"github.com/secure-agent/secure-agent/libs/job"
)

type fixedStatus struct{ r Report }

func (f fixedStatus) Check(ctx context.Context) Report {
	if _, ok := ctx.Deadline(); !ok {
		panic("status checked without a time limit")
	}
	return f.r
}

type fixedJobs struct {
	l   job.List
	err error
}

func (f fixedJobs) ListJobs(context.Context) (job.List, error) { return f.l, f.err }

type noSender struct{}

func (noSender) Heartbeat(context.Context, controlplane.Heartbeat) error { return nil }

func at(min int) *time.Time {
	t := t0.Add(time.Duration(min) * time.Minute)
	return &t
}

func readyReport(overall Overall) Report {
	return Report{
		Status:  overall,
		Sidecar: SidecarStatus{Healthy: true},
		Self:    &bootstrap.SidecarReport{AppID: "health-1"},
		Apps: map[string]AppStatus{
			"orchestrator": {Ready: true},
			"extractor":    {Ready: overall != Down, Error: "readyz: dial postgres://svc:hunter2-canary@db:5432/x refused"},
		},
	}
}

func newBeats(t *testing.T, st StatusChecker, jobs JobLister, send HeartbeatSender, log *zap.Logger) *Heartbeats {
	t.Helper()
	if send == nil {
		send = noSender{}
	}
	h, err := NewHeartbeats(HeartbeatOptions{
		AgentID: "agent-7", Version: "1.2.3", Interval: time.Hour, CheckTimeout: 5 * time.Second,
		Status: st, Jobs: jobs, Sender: send, Logger: log, Registerer: prometheus.NewRegistry(),
	})
	require.NoError(t, err)
	h.now = func() time.Time { return t0 }
	return h
}

func TestHeartbeatCarriesHealthAndJobs(t *testing.T) {
	list := job.List{Jobs: []job.Status{
		{ID: "j6", State: job.Running},
		{ID: "j5", State: job.Extracting},
		{ID: "j4", State: job.Failed, FinishedAt: at(40)},
		{ID: "j3", State: job.Pending},
		{ID: "j2", State: job.Succeeded, FinishedAt: at(30)},
		{ID: "j1", State: job.Cancelled, FinishedAt: at(50)}, // cancelled late
	}}
	h := newBeats(t, fixedStatus{readyReport(Degraded)}, fixedJobs{l: list}, nil, nil)
	hb := h.Build(context.Background())
	require.Equal(t, "agent-7", hb.AgentID)
	require.Equal(t, "1.2.3", hb.Version)
	require.Equal(t, t0, hb.At)
	require.Equal(t, controlplane.AgentDegraded, hb.Status)
	require.Equal(t, 3, hb.JobsRunning)
	require.Equal(t, &controlplane.LastJob{JobID: "j1", State: controlplane.StateCancelled, FinishedAt: *at(50)}, hb.LastJob)
	require.Equal(t, controlplane.AppHealth{Ready: true}, hb.Apps["orchestrator"])
	require.Equal(t, controlplane.AppHealth{Ready: true}, hb.Apps["health-1"], "health's own sidecar")
	require.NotContains(t, hb.Apps["extractor"].Error, "hunter2-canary", "errors are redacted before they leave the agent")
	require.Contains(t, hb.Apps["extractor"].Error, "refused")
}

func TestHeartbeatWithoutFinishedJobs(t *testing.T) {
	h := newBeats(t, fixedStatus{readyReport(OK)}, fixedJobs{l: job.List{Jobs: []job.Status{{ID: "j1", State: job.Running}}}}, nil, nil)
	hb := h.Build(context.Background())
	require.Equal(t, controlplane.AgentOK, hb.Status)
	require.Equal(t, 1, hb.JobsRunning)
	require.Nil(t, hb.LastJob)

	h = newBeats(t, fixedStatus{readyReport(OK)}, fixedJobs{l: job.List{Jobs: []job.Status{{ID: "j9", State: job.Failed}}}}, nil, nil)
	hb = h.Build(context.Background())
	require.Equal(t, &controlplane.LastJob{JobID: "j9", State: controlplane.StateFailed}, hb.LastJob, "no finish time: the newest ended job")
}

func TestHeartbeatWhenTheOrchestratorCannotBeAsked(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	listErr := errors.New("invoke GET /v1/jobs on orchestrator: connection refused")

	h := newBeats(t, fixedStatus{readyReport(OK)}, fixedJobs{err: listErr}, nil, zap.New(core))
	hb := h.Build(context.Background())
	require.Equal(t, controlplane.AgentDegraded, hb.Status, "ok apps but unknown jobs")
	require.Zero(t, hb.JobsRunning)
	require.Nil(t, hb.LastJob)
	h.Build(context.Background())
	require.Len(t, logs.FilterMessageSnippet("listing the orchestrator's jobs failed").All(), 1, "logged once, not every beat")

	h = newBeats(t, fixedStatus{readyReport(Down)}, fixedJobs{err: listErr}, nil, nil)
	require.Equal(t, controlplane.AgentDown, h.Build(context.Background()).Status, "the verdict stands")
}

func TestHeartbeatReachesTheControlPlaneThroughRetries(t *testing.T) {
	cp := newFakeControlPlane(t)
	cp.push("POST /heartbeat", 503, 429)
	h := newBeats(t, fixedStatus{readyReport(OK)}, fixedJobs{l: job.List{Jobs: []job.Status{{ID: "j1", State: job.Running}}}},
		cp.client(t, 2), nil)
	require.NoError(t, h.Beat(context.Background()))
	got := cp.beats()
	require.Len(t, got, 1)
	require.Equal(t, "agent-7", got[0].AgentID)
	require.Equal(t, controlplane.AgentOK, got[0].Status)
	require.Equal(t, 1, got[0].JobsRunning)
	require.True(t, got[0].Apps["orchestrator"].Ready)
	require.Equal(t, 1.0, testutil.ToFloat64(h.sent.WithLabelValues("ok")))
}

func TestFailedHeartbeatsAreCountedAndLoggedSparingly(t *testing.T) {
	cp := newFakeControlPlane(t)
	cp.setDown(true)
	core, logs := observer.New(zapcore.InfoLevel)
	h := newBeats(t, fixedStatus{readyReport(OK)}, fixedJobs{}, cp.client(t, 1), zap.New(core))
	for range 3 {
		require.Error(t, h.Beat(context.Background()))
	}
	require.Equal(t, 3.0, testutil.ToFloat64(h.sent.WithLabelValues("error")))
	require.Len(t, logs.FilterMessageSnippet("heartbeat to the control plane failed").All(), 1)

	h.now = func() time.Time { return t0.Add(2 * time.Minute) }
	require.Error(t, h.Beat(context.Background()))
	warns := logs.FilterMessageSnippet("heartbeat to the control plane failed").All()
	require.Len(t, warns, 2, "again after a minute")
	require.EqualValues(t, 2, warns[1].ContextMap()["failures_not_logged"])

	cp.setDown(false)
	require.NoError(t, h.Beat(context.Background()))
	require.Len(t, logs.FilterMessage("heartbeats reach the control plane again").All(), 1)
	require.Len(t, cp.beats(), 1)
}

func TestRunBeatsAtOnceAndEveryInterval(t *testing.T) {
	cp := newFakeControlPlane(t)
	h, err := NewHeartbeats(HeartbeatOptions{
		AgentID: "agent-7", Version: "1.2.3", Interval: 20 * time.Millisecond, CheckTimeout: time.Second,
		Status: fixedStatus{readyReport(OK)}, Jobs: fixedJobs{}, Sender: cp.client(t, 0),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Run(ctx)
	}()
	require.Eventually(t, func() bool { return len(cp.beats()) >= 3 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
}

func TestNewHeartbeatsNeedsItsParts(t *testing.T) {
	_, err := NewHeartbeats(HeartbeatOptions{Interval: time.Second})
	require.ErrorContains(t, err, "agent id")
}
