package bootstrap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/config"
	"github.com/secure-agent/secure-agent/libs/daprclient"
	"github.com/secure-agent/secure-agent/libs/httpserver"
	"github.com/secure-agent/secure-agent/libs/logging"
)

// Audit modes (AUDIT).
const (
	AuditRequired = "required"
	AuditOff      = "off"
)

// AuditSettings say where each app records what it does (ADR 0014).
type AuditSettings struct {
	Mode        string
	WriterAppID string
	SecretStore string
	HMACKey     string
	Timeout     time.Duration
}

func registerAudit(l *config.Loader, a *AuditSettings) {
	l.Enum(&a.Mode, "AUDIT", AuditRequired, []string{AuditRequired, AuditOff},
		"required: every secret read and job step is recorded in the audit log before it takes effect, and fails "+
			"when it cannot be (fail closed); off: nothing is recorded (tests and single-app runs only)")
	l.String(&a.WriterAppID, "AUDIT_WRITER_APP_ID", "health", "app id of the audit log's writer")
	l.String(&a.SecretStore, "AUDIT_SECRET_STORE", "secrets", "secret store holding the audit keys")
	l.String(&a.HMACKey, "AUDIT_HMAC_KEY", audit.DefaultHMACKey, "key of the installation's audit HMAC key in AUDIT_SECRET_STORE "+
		"(secret values are recorded as HMAC-SHA256 under it, never in clear)")
	l.Duration(&a.Timeout, "AUDIT_TIMEOUT", 10*time.Second, "bound on one append to the audit log")
}

func checkAudit(l *config.Loader, a AuditSettings) {
	l.Check(a.Timeout > 0, "AUDIT_TIMEOUT", "must be positive")
	l.Check(a.Mode == AuditOff || a.WriterAppID != "", "AUDIT_WRITER_APP_ID", "must name the audit writer (health)")
	l.Check(a.Mode == AuditOff || a.HMACKey != "", "AUDIT_HMAC_KEY", "must name the audit HMAC key")
}

// auditDeps builds the recorder and the audited secret reads for an app.
// The writer's recorder is a Deferred its wiring completes.
func auditDeps(spec Spec, c Common, sidecar *daprclient.Sidecar, log *zap.Logger, reg prometheus.Registerer,
	secrets *logging.Secrets) (audit.Recorder, *audit.Deferred, audit.SecretGetter, error) {
	if c.Audit.Mode == AuditOff {
		log.Warn("AUDIT=off: secret reads and job steps are not recorded in the audit log")
		return audit.Off{}, nil, registering{inner: sidecar.Client(), reg: secrets}, nil
	}
	var rec audit.Recorder
	var deferred *audit.Deferred
	if spec.AuditWriter {
		deferred = &audit.Deferred{}
		rec = deferred
	} else {
		r, err := audit.NewRemote(sidecar, c.Audit.WriterAppID, c.Audit.Timeout, log, reg)
		if err != nil {
			return nil, nil, nil, err
		}
		rec = r
	}
	getter := audit.NewSecrets(sidecar.Client(), rec, spec.Name, c.Audit.SecretStore, c.Audit.HMACKey, secrets)
	return rec, deferred, getter, nil
}

// registering registers every value it reads with the logging registry
// (AUDIT=off still keeps secrets out of logs).
type registering struct {
	inner audit.SecretGetter
	reg   *logging.Secrets
}

func (r registering) GetSecret(ctx context.Context, store, key string, meta map[string]string) (map[string]string, error) {
	data, err := r.inner.GetSecret(ctx, store, key, meta)
	for _, v := range data {
		r.reg.Register(v)
	}
	return data, err
}

// recordStart records the configuration this process started with — a
// digest of its settings (secrets as [set]/[unset]) and of the components
// its sidecar loaded — retrying until the audit log takes it. The app is
// not ready before.
func recordStart(ctx context.Context, spec Spec, c Common, rec audit.Recorder, sidecar *daprclient.Sidecar,
	log *zap.Logger, addReady func(httpserver.Check)) {
	var done atomic.Bool
	addReady(httpserver.Check{Name: "audit_start_recorded", Fn: func(context.Context) error {
		if !done.Load() {
			return errors.New("the process start is not yet recorded in the audit log (is " + c.Audit.WriterAppID + " up?)")
		}
		return nil
	}})
	go func() {
		delay := time.Second
		warned := false
		for {
			err := recordStartOnce(ctx, spec, c, rec, sidecar)
			if err == nil {
				done.Store(true)
				return
			}
			if !warned || delay >= 30*time.Second {
				log.Warn("cannot record this process's start in the audit log yet; retrying", zap.Error(err))
				warned = true
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, 30*time.Second)
		}
	}()
}

func recordStartOnce(ctx context.Context, spec Spec, c Common, rec audit.Recorder, sidecar *daprclient.Sidecar) error {
	md, err := sidecar.Metadata(ctx)
	if err != nil {
		return fmt.Errorf("read the sidecar's components: %w", err)
	}
	comps := make([]string, 0, len(md.Components))
	for _, cm := range md.Components {
		comps = append(comps, cm.Name+" "+cm.Type+" "+cm.Version)
	}
	sort.Strings(comps)
	return rec.Record(ctx, audit.Entry{
		Action: audit.ActionProcessStarted, Actor: spec.Name, App: spec.Name, Target: c.AppID, Outcome: audit.OutcomeOK,
		Details: map[string]string{
			"version":           Version,
			"go_version":        runtime.Version(),
			"dapr_version":      md.RuntimeVersion,
			"settings_sha256":   digest(c.described),
			"components_sha256": digest(comps),
			"components":        fmt.Sprint(len(comps)),
		},
	})
}

func digest(v any) string {
	b, _ := json.Marshal(v) // maps marshal with sorted keys
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
