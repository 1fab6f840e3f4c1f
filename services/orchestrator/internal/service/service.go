// Package service wires the orchestrator: adapters over the sidecar, the
// use cases, the HTTP routes and subscriptions, and the workflow worker.
package service

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/dapr/durabletask-go/workflow"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/bootstrap"
	"github.com/secure-agent/secure-agent/libs/config"
	"github.com/secure-agent/secure-agent/libs/controlplane"
	"github.com/secure-agent/secure-agent/libs/httpserver"
	"github.com/secure-agent/secure-agent/services/orchestrator/internal/adapters"
	"github.com/secure-agent/secure-agent/services/orchestrator/internal/app"
	"github.com/secure-agent/secure-agent/services/orchestrator/internal/ports"
)

// Config is the orchestrator's own settings.
type Config struct {
	StateStore        string
	SourceConcurrency int
	JobListLimit      int
	ControlPlane      controlplane.Settings
	LeasedJobs        int
	PollWait          time.Duration
	PollerLeaseTTL    time.Duration
	EngineCallTimeout time.Duration
	// SlotRetry and ActivityRetry are not settings; tests shorten them.
	SlotRetry     time.Duration
	ActivityRetry workflow.RetryPolicy
}

// Settings registers the orchestrator's settings on l and returns the
// cross-field checks run after loading.
func Settings(cfg *Config) func(l *config.Loader) func(*config.Loader) {
	return func(l *config.Loader) func(*config.Loader) {
		l.String(&cfg.StateStore, "STATE_STORE", "statestore", "Dapr state store component for job records, the job index and connection slots")
		l.Int(&cfg.SourceConcurrency, "SOURCE_CONCURRENCY", 1, "how many jobs may run at once against one connection; more wait in phase queued "+
			"(above 1, a run that finishes after another run of its connection started fails: its changes are against an older catalog state)")
		l.Int(&cfg.JobListLimit, "JOB_LIST_LIMIT", 100, "most jobs GET /v1/jobs answers (its default and its maximum)")
		l.Int(&cfg.LeasedJobs, "CONTROLPLANE_MAX_JOBS", 2, "most jobs leased from the control plane that run at once")
		l.Duration(&cfg.EngineCallTimeout, "WORKFLOW_CALL_TIMEOUT", adapters.DefaultEngineCallTimeout,
			"bound on each call to the sidecar's workflow engine (start, read, raise an event)")
		l.Duration(&cfg.PollWait, "CONTROLPLANE_POLL_WAIT", 30*time.Second, "how long one long-poll for work waits (at most 60s)")
		l.Duration(&cfg.PollerLeaseTTL, "CONTROLPLANE_POLLER_LEASE_TTL", 15*time.Second,
			"with several orchestrator replicas one polls the control plane, holding a lease in the state store that it renews every TTL/5; "+
				"when it dies another takes over within this TTL plus 2/5 of it")
		checkCP := controlplane.Register(l, &cfg.ControlPlane)
		return func(l *config.Loader) {
			checkCP(l)
			l.Check(cfg.LeasedJobs >= 1, "CONTROLPLANE_MAX_JOBS", "must be at least 1")
			l.Check(cfg.PollerLeaseTTL >= 5*time.Second && cfg.PollerLeaseTTL <= 10*time.Minute, "CONTROLPLANE_POLLER_LEASE_TTL", "must be from 5s to 10m")
			l.Check(cfg.PollWait >= time.Second && cfg.PollWait <= time.Minute, "CONTROLPLANE_POLL_WAIT", "must be from 1s to 60s")
			l.Check(cfg.StateStore != "", "STATE_STORE", "must name the Dapr state store component (e.g. statestore)")
			l.Check(cfg.SourceConcurrency >= 1, "SOURCE_CONCURRENCY", "must be at least 1")
			l.Check(cfg.EngineCallTimeout >= time.Second, "WORKFLOW_CALL_TIMEOUT", "must be at least 1s")
			l.Check(cfg.JobListLimit >= 1 && cfg.JobListLimit <= 10000, "JOB_LIST_LIMIT", "must be from 1 to 10000")
		}
	}
}

// scheduleReconcileInterval is how often every schedule's next fire is
// checked to be armed on Dapr's scheduler.
const scheduleReconcileInterval = 5 * time.Minute

// Collaborators replace the other services in tests; nil fields use the
// real ones over the sidecar.
type Collaborators struct {
	Preflighter app.Preflighter
	Requests    app.RequestPublisher
	Finalizer   app.Finalizer
	Manifests   app.ManifestReader
	// Destinations checks a spec's destinations at submission (nil: the
	// publisher's list).
	Destinations app.DestinationChecker
	// Work replaces the control-plane client (nil: built from the settings
	// when CONTROLPLANE_URL is set).
	Work app.WorkSource
}

// Wire builds the orchestrator on d and starts its workflow worker, which
// stops when ctx ends; the returned func waits for it. Nothing is
// resubmitted at start: running jobs live in the workflow engine and
// resume as soon as the worker connects.
func Wire(ctx context.Context, d bootstrap.Deps, cfg Config, c Collaborators) (func(context.Context) error, error) {
	log := d.Logger
	if log == nil {
		log = zap.NewNop()
	}
	metrics, err := app.NewMetrics(d.Registry)
	if err != nil {
		return nil, err
	}
	client := d.Sidecar.Client()
	engine := adapters.NewWorkflowEngine(client.GrpcClientConn(), cfg.EngineCallTimeout, log)
	if d.AddReadyCheck != nil {
		d.AddReadyCheck(httpserver.Check{Name: "workflow_engine", Fn: engine.Ready})
	}
	store := adapters.NewJobStore(client, cfg.StateStore)
	publisher := adapters.NewPublisherClient(d.Sidecar, adapters.PublisherAppID)
	if c.Preflighter == nil {
		c.Preflighter = adapters.NewExtractorClient(d.Sidecar, adapters.ExtractorAppID)
	}
	if c.Requests == nil {
		c.Requests = adapters.NewExtractRequests(d.Publisher)
	}
	if c.Finalizer == nil {
		c.Finalizer = publisher
	}
	if c.Manifests == nil {
		c.Manifests = publisher
	}

	acts := app.NewActivities(c.Preflighter, c.Requests, c.Finalizer,
		adapters.NewSlotStore(client, cfg.StateStore), engine, cfg.SourceConcurrency, metrics, log)
	wf := app.NewJobWorkflow(app.WorkflowOptions{
		SlotRetry: cfg.SlotRetry, ActivityRetry: cfg.ActivityRetry, Metrics: metrics, Logger: log, Audit: d.Audit,
	})
	registry := workflow.NewRegistry()
	tracing := app.Tracing{Provider: d.TracerProvider, Jobs: app.NewRecordTraces(store), Logger: log}
	if err := app.Register(registry, wf, acts, tracing); err != nil {
		return nil, fmt.Errorf("register workflows: %w", err)
	}

	if c.Destinations == nil {
		c.Destinations = publisher
	}
	jobs := app.NewJobs(store, store, engine, c.Manifests, app.JobsOptions{
		ListLimit: cfg.JobListLimit, Submissions: store, Destinations: c.Destinations, Metrics: metrics, Logger: log,
		Audit: d.Audit, Context: ctx,
	})
	ports.RegisterHTTP(d.App, jobs)
	slots := adapters.NewSlotStore(client, cfg.StateStore)
	schedules := app.NewSchedules(adapters.NewScheduleStore(client, cfg.StateStore),
		adapters.NewDaprScheduler(client, cfg.EngineCallTimeout), jobs, engine, slots,
		app.SchedulesOptions{Metrics: metrics, Logger: log.Named("schedules"), Audit: d.Audit})
	ports.RegisterSchedules(d.App, schedules)
	ports.RegisterSubscriptions(d.Router, app.NewForwarder(engine, metrics, log))

	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		schedules.RunReconciler(ctx, scheduleReconcileInterval)
	}()
	go func() {
		defer wg.Done()
		_ = engine.RunWorker(ctx, registry)
	}()
	go func() {
		defer wg.Done()
		app.RestoreLastSuccess(ctx, store, engine, metrics, cfg.JobListLimit, log)
	}()

	if c.Work == nil && cfg.ControlPlane.Enabled() {
		cp, err := controlplane.NewFromSettings(cfg.ControlPlane,
			controlplane.DaprSecrets{Getter: d.SecretGetter, Store: cfg.ControlPlane.SecretStore}, log, d.Registry,
			controlplane.WithTracerProvider(d.TracerProvider), controlplane.WithAudit(d.Audit, d.Common.AppID))
		if err != nil {
			return nil, fmt.Errorf("control-plane client: %w", err)
		}
		c.Work = cp
	}
	if c.Work != nil {
		newPoller := func(held app.LeaseStore) *app.Poller {
			return app.NewPoller(c.Work, jobs, held, app.PollerOptions{
				AgentID: cfg.ControlPlane.AgentID, MaxJobs: cfg.LeasedJobs, Wait: cfg.PollWait, Logger: log.Named("leases"),
				TracerProvider: d.TracerProvider, Jobs: tracing.Jobs, Metrics: metrics,
			})
		}
		pollerLease := adapters.NewPollerLease(client, cfg.StateStore, d.Common.Instance, cfg.PollerLeaseTTL)
		wg.Add(1)
		go func() {
			defer wg.Done()
			app.RunPolling(ctx, pollerLease, adapters.NewLeaseStore(client, cfg.StateStore), newPoller, metrics, log.Named("leases"))
		}()
		log.Info("the control plane is polled for work by the replica holding the poller lease", zap.String("url", cfg.ControlPlane.URL),
			zap.String("agent_id", cfg.ControlPlane.AgentID), zap.String("instance", d.Common.Instance), zap.Duration("lease_ttl", cfg.PollerLeaseTTL))
	}
	return func(fctx context.Context) error {
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
			return nil
		case <-fctx.Done():
			return fmt.Errorf("workflow worker did not stop: %w", fctx.Err())
		}
	}, nil
}
