// Package service wires the health service: its settings, the status and
// broker-probe API, and, when a control plane is configured, heartbeats and
// the upload of job logs.
package service

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/bootstrap"
	"github.com/secure-agent/secure-agent/libs/config"
	"github.com/secure-agent/secure-agent/libs/controlplane"
	"github.com/secure-agent/secure-agent/libs/daprclient"
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
	Audit              AuditSettings
}

// AuditSettings configure the audit log health writes (ADR 0014).
type AuditSettings struct {
	StateStore         string
	SigningKey         string
	CheckpointEntries  int
	CheckpointInterval time.Duration
	RetentionDays      int
	TSAURL             string
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
	l.String(&s.Audit.StateStore, "AUDIT_STATE_STORE", "healthstore", "state store component that keeps the audit log "+
		"(transactional; only health loads it)")
	l.String(&s.Audit.SigningKey, "AUDIT_SIGNING_KEY", "audit-signing-key", "key in AUDIT_SECRET_STORE of the Ed25519 note key "+
		"that signs audit checkpoints; its name is the log's origin (agentctl audit keygen --origin ORIGIN makes one)")
	l.Int(&s.Audit.CheckpointEntries, "AUDIT_CHECKPOINT_ENTRIES", 256, "sign a checkpoint after this many new audit entries")
	l.Duration(&s.Audit.CheckpointInterval, "AUDIT_CHECKPOINT_INTERVAL", time.Minute, "sign a checkpoint at least this often when the log grew")
	l.Int(&s.Audit.RetentionDays, "AUDIT_RETENTION_DAYS", 90, "days an audit entry's body is kept (30 to 365); then only its hash")
	l.String(&s.Audit.TSAURL, "AUDIT_TSA_URL", "", "URL of an RFC 3161 time-stamping authority; set, each audit checkpoint gets a token from it")
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
		l.Check(s.Audit.CheckpointEntries >= 1, "AUDIT_CHECKPOINT_ENTRIES", "must be at least 1")
		l.Check(s.Audit.CheckpointInterval >= time.Second, "AUDIT_CHECKPOINT_INTERVAL", "must be at least 1s")
		l.Check(s.Audit.RetentionDays >= 30 && s.Audit.RetentionDays <= 365, "AUDIT_RETENTION_DAYS", "must be from 30 to 365")
		if s.Audit.TSAURL != "" {
			u, err := url.Parse(s.Audit.TSAURL)
			l.Check(err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "", "AUDIT_TSA_URL",
				"must be an http:// or https:// URL of a time-stamping authority")
		}
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
		// Health keeps the audit log every app appends to (ADR 0014).
		AuditWriter: true,
		// Operators and agentctl call these directly, with the job API token.
		ClientRoutes: append([]string{"/v1/status", "/v1/diag", "/v1/deadletters"}, ports.AuditClientRoutes...),
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

	var cp *controlplane.Client
	if s.ControlPlane.Enabled() {
		c, err := controlplane.NewFromSettings(s.ControlPlane, controlplane.DaprSecrets{Getter: d.SecretGetter, Store: s.ControlPlane.SecretStore},
			d.Logger, d.Registry, controlplane.WithTracerProvider(d.TracerProvider), controlplane.WithAudit(d.Audit, d.Common.AppID))
		if err != nil {
			return nil, fmt.Errorf("control plane client: %w", err)
		}
		cp = c
	}
	if d.Common.Audit.Mode != bootstrap.AuditOff {
		w, err := wireAudit(ctx, d, s, cp)
		if err != nil {
			return nil, err
		}
		status.WithAudit(w)
	}
	if cp == nil {
		d.Logger.Info("no control plane configured (CONTROLPLANE_URL is empty): no heartbeats, job logs are not uploaded, " +
			"audit checkpoints are not cosigned by a witness")
		return nil, nil
	}
	return wireControlPlane(ctx, d, s, status, cp)
}

// wireAudit opens the audit log, hands its recorder to this app's secret
// reads, and starts checkpoints. The signing key is read before the log
// is open, so its read is the first thing recorded once it is.
func wireAudit(ctx context.Context, d bootstrap.Deps, s *Settings, cp *controlplane.Client) (*app.AuditWriter, error) {
	a := d.Common.Audit
	data, err := d.Sidecar.Client().GetSecret(ctx, a.SecretStore, s.Audit.SigningKey, nil)
	if err != nil {
		return nil, fmt.Errorf("read the audit signing key %q from secret store %q (%v): health signs audit checkpoints with it; "+
			"create one with `agentctl audit keygen --origin ORIGIN` and allow it in health's secret scopes",
			s.Audit.SigningKey, a.SecretStore, daprclient.SecretErrorKind(err))
	}
	skey := data[s.Audit.SigningKey]
	if skey == "" && len(data) == 1 {
		for _, v := range data {
			skey = v
		}
	}
	d.Secrets.Register(skey)
	signer, err := audit.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("audit signing key %q in store %q: %w", s.Audit.SigningKey, a.SecretStore, err)
	}
	vkey, err := audit.VerifierKey(skey)
	if err != nil {
		return nil, fmt.Errorf("audit signing key %q in store %q: %w", s.Audit.SigningKey, a.SecretStore, err)
	}
	store := audit.DaprStore{Client: d.Sidecar.Client(), Name: s.Audit.StateStore}
	md, err := d.Sidecar.Metadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the sidecar's components: %w", err)
	}
	found := false
	for _, c := range md.Components {
		if c.Name == s.Audit.StateStore {
			found = true
			// Redis applies a transaction's other writes when one fails:
			// check the head before each commit (ADR 0014).
			store.NoRollback = c.Type == "state.redis"
		}
	}
	if !found {
		return nil, fmt.Errorf("AUDIT_STATE_STORE %q is not a component health's sidecar loaded: the audit log is kept there "+
			"(a transactional state store scoped to health)", s.Audit.StateStore)
	}
	log, err := audit.Open(ctx, store, audit.Options{Origin: signer.Name(), Signer: signer})
	if err != nil {
		return nil, err
	}
	var witness app.Witness
	if cp != nil {
		witness = cp
	}
	var tsa *audit.TSA
	if s.Audit.TSAURL != "" {
		tsa = &audit.TSA{URL: s.Audit.TSAURL}
	}
	w, err := app.NewAuditWriter(app.AuditOptions{
		Log: log, VerifierKey: vkey, CheckpointEntries: uint64(s.Audit.CheckpointEntries),
		CheckpointInterval: s.Audit.CheckpointInterval, Retention: time.Duration(s.Audit.RetentionDays) * 24 * time.Hour,
		Witness: witness, TSA: tsa, App: d.Common.AppID, Logger: d.Logger, Registerer: d.Registry,
	})
	if err != nil {
		return nil, err
	}
	d.AuditWriter.Set(w.Recorder())
	if err := w.Recorder().Record(ctx, audit.Entry{Action: audit.ActionSecretRead, Actor: d.Common.AppID, App: d.Common.AppID,
		Target: a.SecretStore + "/" + s.Audit.SigningKey, Outcome: audit.OutcomeOK,
		Details: map[string]string{"purpose": "audit checkpoint signing key", "verifier_key": vkey}}); err != nil {
		return nil, fmt.Errorf("record the audit signing key's read: %w", err)
	}
	ports.RegisterAudit(d.App, w)
	go w.Run(ctx)
	h := log.Head()
	d.Logger.Info("audit log open", zap.String("origin", h.Origin), zap.Uint64("entries", h.Size),
		zap.Uint64("last_cosigned", h.LastCosigned), zap.Bool("witness", cp != nil))
	return w, nil
}

// wireControlPlane starts heartbeats and the job log upload; the returned
// func makes the last upload on shutdown.
func wireControlPlane(ctx context.Context, d bootstrap.Deps, s *Settings, status *app.Status, client *controlplane.Client) (func(context.Context) error, error) {
	cp := s.ControlPlane
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
