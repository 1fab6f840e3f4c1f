package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/controlplane"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/logging"
	"github.com/secure-agent/secure-agent/libs/metricdef"
)

// StatusChecker is the status collector a heartbeat reports from.
type StatusChecker interface {
	Check(ctx context.Context) Report
}

// JobLister lists the orchestrator's jobs, newest first.
type JobLister interface {
	ListJobs(ctx context.Context) (job.List, error)
}

// HeartbeatSender delivers a heartbeat to the control plane.
type HeartbeatSender interface {
	Heartbeat(ctx context.Context, hb controlplane.Heartbeat) error
}

// HeartbeatOptions configure Heartbeats; every field but Logger,
// Registerer and TracerProvider is required.
type HeartbeatOptions struct {
	AgentID  string
	Version  string
	Interval time.Duration
	// CheckTimeout bounds the status check and the job listing of one beat.
	CheckTimeout time.Duration
	Status       StatusChecker
	Jobs         JobLister
	Sender       HeartbeatSender
	Logger       *zap.Logger
	Registerer   prometheus.Registerer
	// TracerProvider makes every beat of Run the root span of its own
	// trace; nil records none.
	TracerProvider trace.TracerProvider
}

// Heartbeats tells the control plane, every interval, that the agent is
// alive, how healthy each app is and what jobs run. The agent calls out;
// nothing calls in.
type Heartbeats struct {
	opts   HeartbeatOptions
	log    *zap.Logger
	tracer trace.Tracer
	sent   *prometheus.CounterVec
	warn   throttle // failed heartbeats
	list   throttle // failed job listings
	now    func() time.Time
}

// NewHeartbeats checks the options and registers the heartbeat counter.
func NewHeartbeats(o HeartbeatOptions) (*Heartbeats, error) {
	if o.AgentID == "" || o.Interval <= 0 || o.CheckTimeout <= 0 || o.Status == nil || o.Jobs == nil || o.Sender == nil {
		return nil, errors.New("heartbeats: agent id, interval, check timeout, status, job lister and sender are required")
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	h := &Heartbeats{
		opts: o, log: o.Logger, tracer: tracerOf(o.TracerProvider), warn: throttle{period: time.Minute},
		list: throttle{period: time.Minute}, now: time.Now, sent: metricdef.Heartbeats.CounterVec(),
	}
	h.sent.WithLabelValues("ok")
	h.sent.WithLabelValues("error")
	if err := metricdef.Register(o.Registerer, h.sent); err != nil {
		return nil, fmt.Errorf("heartbeats: %w", err)
	}
	return h, nil
}

// Run beats at once and then every interval until ctx ends. A beat is
// bounded by the interval (at least 10s), so one stuck on a slow control
// plane gives way to the next.
func (h *Heartbeats) Run(ctx context.Context) {
	bound := max(h.opts.Interval, 10*time.Second)
	t := time.NewTicker(h.opts.Interval)
	defer t.Stop()
	for {
		bctx, cancel := context.WithTimeout(ctx, bound)
		bctx, span := h.tracer.Start(bctx, "health heartbeat", trace.WithNewRoot())
		endSpan(span, h.Beat(bctx))
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Beat builds and sends one heartbeat. A failure is counted and logged
// (spaced out while it repeats) and returned; it is never fatal. Its lines
// carry the trace of ctx's span (Run's beat).
func (h *Heartbeats) Beat(ctx context.Context) error {
	log := logging.WithTrace(ctx, h.log)
	hb := h.Build(ctx)
	err := h.opts.Sender.Heartbeat(ctx, hb)
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		return err // shutting down: not the control plane's failure
	}
	if err != nil {
		h.sent.WithLabelValues("error").Inc()
		if show, held := h.warn.fail(h.now()); show {
			log.Warn("heartbeat to the control plane failed; the agent keeps running and tries again every interval",
				zap.Duration("interval", h.opts.Interval), zap.Int("failures_not_logged", held), zap.Error(err))
		}
		return err
	}
	h.sent.WithLabelValues("ok").Inc()
	if h.warn.ok() {
		log.Info("heartbeats reach the control plane again")
	}
	return nil
}

// Build collects the heartbeat: the status verdict and each app's
// readiness, and from the orchestrator's job list the jobs running and the
// last one that finished. An orchestrator that cannot be asked still gets a
// heartbeat sent: its apps show why, and an otherwise ok agent reports
// degraded, since the control plane cannot learn what it runs.
func (h *Heartbeats) Build(ctx context.Context) controlplane.Heartbeat {
	ctx, cancel := context.WithTimeout(ctx, h.opts.CheckTimeout)
	defer cancel()
	var (
		rep     Report
		list    job.List
		listErr error
		wg      sync.WaitGroup
	)
	wg.Go(func() { rep = h.opts.Status.Check(ctx) })
	wg.Go(func() { list, listErr = h.opts.Jobs.ListJobs(ctx) })
	wg.Wait()

	hb := controlplane.Heartbeat{
		AgentID: h.opts.AgentID, Version: h.opts.Version, At: h.now().UTC(),
		Status: agentStatus(rep.Status), Apps: make(map[string]controlplane.AppHealth, len(rep.Apps)+1),
	}
	self := healthAppID
	if rep.Self != nil && rep.Self.AppID != "" {
		self = rep.Self.AppID
	}
	hb.Apps[self] = controlplane.AppHealth{Ready: rep.Sidecar.Healthy, Error: logging.RedactString(rep.Sidecar.Error)}
	for id, st := range rep.Apps {
		hb.Apps[id] = controlplane.AppHealth{Ready: st.Ready, Error: logging.RedactString(st.Error)}
	}
	if listErr != nil {
		if log, held := h.list.fail(h.now()); log {
			logging.WithTrace(ctx, h.log).Warn("heartbeat sent without job counts: listing the orchestrator's jobs failed",
				zap.Int("failures_not_logged", held), zap.Error(listErr))
		}
		if hb.Status == controlplane.AgentOK {
			hb.Status = controlplane.AgentDegraded
		}
		return hb
	}
	h.list.ok()
	hb.JobsRunning, hb.LastJob = summarizeJobs(list)
	return hb
}

func agentStatus(o Overall) controlplane.AgentStatus {
	switch o {
	case OK:
		return controlplane.AgentOK
	case Degraded:
		return controlplane.AgentDegraded
	default:
		return controlplane.AgentDown
	}
}

// summarizeJobs counts the jobs not yet ended and picks the one that ended
// last (by finish time; the list's newest when none has one).
func summarizeJobs(l job.List) (running int, last *controlplane.LastJob) {
	var lastAt time.Time
	for _, st := range l.Jobs {
		if !st.State.Terminal() {
			running++
			continue
		}
		switch {
		case st.FinishedAt != nil && (last == nil || st.FinishedAt.After(lastAt)):
			lastAt = *st.FinishedAt
			last = &controlplane.LastJob{JobID: st.ID, State: controlplane.State(st.State), FinishedAt: st.FinishedAt.UTC()}
		case last == nil:
			last = &controlplane.LastJob{JobID: st.ID, State: controlplane.State(st.State)}
		}
	}
	return running, last
}
