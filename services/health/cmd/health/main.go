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

func main() {
	var apps string
	var probeTimeout time.Duration
	bootstrap.Main(bootstrap.Spec{
		Name:           "health",
		DefaultAppPort: 6004,
		Settings: func(l *config.Loader) func(*config.Loader) {
			l.String(&apps, "HEALTH_APPS", "orchestrator,extractor,publisher", "comma-separated app ids whose readiness health reports")
			l.Duration(&probeTimeout, "PROBE_TIMEOUT", 10*time.Second, "how long a broker probe waits for every app's answer")
			return func(l *config.Loader) {
				_, err := app.ParseAppIDs(apps)
				l.Check(err == nil, "HEALTH_APPS", fmt.Sprint(err))
			}
		},
		Wire: func(ctx context.Context, d bootstrap.Deps) (func(context.Context) error, error) {
			ids, _ := app.ParseAppIDs(apps)
			status := app.NewStatus(ids, d.Sidecar)
			prober := app.NewBrokerProber(ids, d.Publisher, probeTimeout, d.Logger)
			prober.Register(d.Router)
			ports.Register(d.App, status, prober)
			return nil, nil
		},
	})
}
