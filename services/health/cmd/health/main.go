// Command health aggregates the readiness of every app and sidecar of the
// agent and proves the broker works end to end.
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/secure-agent/secure-agent/libs/bootstrap"
	"github.com/secure-agent/secure-agent/libs/config"
	"github.com/secure-agent/secure-agent/services/health/internal/app"
	"github.com/secure-agent/secure-agent/services/health/internal/ports"
)

// statusRequestTimeout bounds one GET /v1/status.
const statusRequestTimeout = 10 * time.Second

func main() {
	var apps string
	var probeTimeout, statusProbeTimeout, statusProbeMaxAge time.Duration
	bootstrap.Main(bootstrap.Spec{
		Name:           "health",
		DefaultAppPort: 6004,
		Settings: func(l *config.Loader) func(*config.Loader) {
			l.String(&apps, "HEALTH_APPS", "orchestrator,extractor,publisher", "comma-separated app ids whose readiness health reports")
			l.Duration(&probeTimeout, "PROBE_TIMEOUT", 10*time.Second, "how long a broker probe waits for every app's answer")
			l.Duration(&statusProbeTimeout, "STATUS_PROBE_TIMEOUT", 3*time.Second, "how long GET /v1/status waits for a new broker probe")
			l.Duration(&statusProbeMaxAge, "STATUS_PROBE_MAX_AGE", 15*time.Second, "GET /v1/status reuses a broker probe result up to this old")
			return func(l *config.Loader) {
				_, err := app.ParseAppIDs(apps)
				l.Check(err == nil, "HEALTH_APPS", fmt.Sprint(err))
				l.Check(probeTimeout > 0, "PROBE_TIMEOUT", "must be positive")
				l.Check(statusProbeTimeout > 0 && statusProbeTimeout < statusRequestTimeout, "STATUS_PROBE_TIMEOUT",
					"must be positive and under "+statusRequestTimeout.String()+" (the bound of a status request)")
				l.Check(statusProbeMaxAge >= 0, "STATUS_PROBE_MAX_AGE", "must not be negative")
			}
		},
		Wire: func(ctx context.Context, d bootstrap.Deps) (func(context.Context) error, error) {
			ids, _ := app.ParseAppIDs(apps)
			prober := app.NewBrokerProber(ids, d.Publisher, probeTimeout, d.Logger)
			prober.Register(d.Router)
			self := bootstrap.NewSidecarReporter(d.Common.AppID, d.Sidecar, d.Logger)
			recent := app.NewRecentProbe(prober, statusProbeMaxAge, statusProbeTimeout)
			status := app.NewStatus(ids, d.Sidecar, self, recent)
			ports.Register(d.App, status, prober, statusRequestTimeout)
			return nil, nil
		},
	})
}
