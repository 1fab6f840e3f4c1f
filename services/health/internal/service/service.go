// Package service wires the health service: its settings, the status and
// broker-probe API, and, when a control plane is configured, heartbeats and
// the upload of job logs.
package service

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/bootstrap"
	"github.com/secure-agent/secure-agent/libs/config"
	"github.com/secure-agent/secure-agent/libs/controlplane"
	"github.com/secure-agent/secure-agent/services/health/internal/adapters"
	"github.com/secure-agent/secure-agent/services/health/internal/app"
	"github.com/secure-agent/secure-agent/services/health/internal/ports"
)

// statusRequestTimeout bounds one GET /v1/status, and the status check of a
// heartbeat.
const statusRequestTimeout = 10 * time.Second

// Settings are health's own settings.
type Settings struct {
	Apps               string
	StateStore         string
	ProbeTimeout       time.Duration
	StatusProbeTimeout time.Duration
	StatusProbeMaxAge  time.Duration
	OrchestratorAppID  string
	HeartbeatInterval  time.Duration
	LogUploadLines     int
	LogUploadBytes     int
	ControlPlane       controlplane.Settings
}

// register adds the settings to l and returns the checks run after loading.
func (s *Settings) register(l *config.Loader) func(*config.Loader) {
	l.String(&s.Apps, "HEALTH_APPS", "orchestrator,extractor,publisher", "comma-separated app ids whose readiness health reports")
	l.String(&s.StateStore, "STATE_STORE", "healthstore", "state store component where health keeps dead letters")
	l.Duration(&s.ProbeTimeout, "PROBE_TIMEOUT", 10*time.Second, "how long a broker probe waits for every app's answer")
	l.Duration(&s.StatusProbeTimeout, "STATUS_PROBE_TIMEOUT", 3*time.Second, "how long GET /v1/status waits for a new broker probe")
	l.Duration(&s.StatusProbeMaxAge, "STATUS_PROBE_MAX_AGE", 15*time.Second, "GET /v1/status reuses a broker probe result up to this old")
	l.String(&s.OrchestratorAppID, "ORCHESTRATOR_APP_ID", "orchestrator", "app id of the orchestrator, asked for its jobs in each heartbeat")
	l.Duration(&s.HeartbeatInterval, "HEARTBEAT_INTERVAL", 30*time.Second, "how often a heartbeat is sent to the control plane (with CONTROLPLANE_URL)")
	l.Int(&s.LogUploadLines, "LOG_UPLOAD_BUFFER_LINES", app.DefaultLogUploadLines,
		"job log lines held for upload to the control plane; more are dropped and counted")
	l.Int(&s.LogUploadBytes, "LOG_UPLOAD_BUFFER_BYTES", app.DefaultLogUploadBytes,
		"bytes of job log lines held for upload to the control plane; more are dropped and counted")
	checkCP := controlplane.Register(l, &s.ControlPlane)
	return func(l *config.Loader) {
		_, err := app.ParseAppIDs(s.Apps)
		l.Check(err == nil, "HEALTH_APPS", fmt.Sprint(err))
		l.Check(s.ProbeTimeout > 0, "PROBE_TIMEOUT", "must be positive")
		l.Check(s.StatusProbeTimeout > 0 && s.StatusProbeTimeout < statusRequestTimeout, "STATUS_PROBE_TIMEOUT",
			"must be positive and under "+statusRequestTimeout.String()+" (the bound of a status request)")
		l.Check(s.StatusProbeMaxAge >= 0, "STATUS_PROBE_MAX_AGE", "must not be negative")
		l.Check(s.OrchestratorAppID != "", "ORCHESTRATOR_APP_ID", "must name the orchestrator's app id")
		l.Check(s.HeartbeatInterval >= time.Second, "HEARTBEAT_INTERVAL", "must be at least 1s")
		l.Check(s.LogUploadLines >= 1, "LOG_UPLOAD_BUFFER_LINES", "must be at least 1")
		l.Check(s.LogUploadBytes >= 1<<20, "LOG_UPLOAD_BUFFER_BYTES", "must be at least 1048576 (1 MiB)")
		checkCP(l)
	}
}

// Spec is the health service for bootstrap.Main.
func Spec() bootstrap.Spec {
	var s Settings
	return bootstrap.Spec{
		Name:           "health",
		DefaultAppPort: 6004,
		// Health uploads the job logs; its own lines with a job id are
		// warnings about those uploads and must not loop back into them.
		KeepsJobLogs: true,
		// Operators and agentctl call these directly, with the job API token.
		ClientRoutes: []string{"/v1/status", "/v1/diag", "/v1/deadletters"},
		Settings:     s.register,
		Wire: func(ctx context.Context, d bootstrap.Deps) (func(context.Context) error, error) {
			return wire(ctx, d, &s)
		},
	}
}

func wire(ctx context.Context, d bootstrap.Deps, s *Settings) (func(context.Context) error, error) {
	ids, _ := app.ParseAppIDs(s.Apps) // checked when loading
	prober := app.NewBrokerProber(ids, d.Publisher, s.ProbeTimeout, d.Logger)
	prober.Register(d.Router)
	self := bootstrap.NewSidecarReporter(d.Common.AppID, d.Sidecar, d.Logger)
	recent := app.NewRecentProbe(prober, s.StatusProbeMaxAge, s.StatusProbeTimeout)
	dls, err := app.NewDeadLetters(adapters.NewDeadLetterStore(d.Sidecar.Client(), s.StateStore), d.Sidecar, d.Logger, d.Registry)
	if err != nil {
		return nil, err
	}
	ports.SubscribeDeadLetters(d.Router, dls)
	ports.RegisterDeadLetters(d.App, dls)
	status := app.NewStatus(ids, d.Sidecar, self, recent).WithDeadLetters(dls)
	ports.Register(d.App, status, prober, statusRequestTimeout)

	if !s.ControlPlane.Enabled() {
		d.Logger.Info("no control plane configured (CONTROLPLANE_URL is empty): no heartbeats, job logs are not uploaded")
		return nil, nil
	}
	return wireControlPlane(ctx, d, s, status)
}

// wireControlPlane starts heartbeats and the job log upload; the returned
// func makes the last upload on shutdown.
func wireControlPlane(ctx context.Context, d bootstrap.Deps, s *Settings, status *app.Status) (func(context.Context) error, error) {
	cp := s.ControlPlane
	client, err := controlplane.NewFromSettings(cp, controlplane.DaprSecrets{Getter: d.Sidecar.Client(), Store: cp.SecretStore},
		d.Logger, d.Registry, controlplane.WithTracerProvider(d.TracerProvider))
	if err != nil {
		return nil, fmt.Errorf("control plane client: %w", err)
	}
	beats, err := app.NewHeartbeats(app.HeartbeatOptions{
		AgentID: cp.AgentID, Version: bootstrap.Version, Interval: s.HeartbeatInterval, CheckTimeout: statusRequestTimeout,
		Status: status, Jobs: adapters.NewOrchestratorJobs(d.Sidecar, s.OrchestratorAppID), Sender: client,
		Logger: d.Logger, Registerer: d.Registry, TracerProvider: d.TracerProvider,
	})
	if err != nil {
		return nil, err
	}
	uploader, err := app.NewLogUploader(app.LogUploaderOptions{
		Sink: client, MaxLines: s.LogUploadLines, MaxBytes: s.LogUploadBytes, Start: time.Now(),
		Logger: d.Logger, Registerer: d.Registry, TracerProvider: d.TracerProvider,
	})
	if err != nil {
		return nil, err
	}
	ports.SubscribeJobLogs(d.Router, uploader)

	var wg sync.WaitGroup
	wg.Go(func() { beats.Run(ctx) })
	wg.Go(func() { uploader.Run(ctx) })
	d.Logger.Info("control plane link on: heartbeats and job log upload",
		zap.String("agent_id", cp.AgentID), zap.Duration("heartbeat_interval", s.HeartbeatInterval))
	return func(fctx context.Context) error {
		stopped := make(chan struct{})
		go func() {
			wg.Wait()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-fctx.Done():
			return fmt.Errorf("control plane link did not stop in time: %w", fctx.Err())
		}
		return uploader.Flush(fctx)
	}, nil
}
