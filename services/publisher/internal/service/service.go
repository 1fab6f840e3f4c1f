// Package service assembles the publisher: its settings and its wiring into
// the shared bootstrap. cmd/publisher runs it; tests run it in-process.
package service

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/secure-agent/secure-agent/libs/bootstrap"
	"github.com/secure-agent/secure-agent/libs/changeset"
	"github.com/secure-agent/secure-agent/libs/config"
	"github.com/secure-agent/secure-agent/libs/controlplane"
	"github.com/secure-agent/secure-agent/libs/gctune"
	"github.com/secure-agent/secure-agent/libs/objectstore"
	"github.com/secure-agent/secure-agent/libs/statestore"
	"github.com/secure-agent/secure-agent/services/publisher/internal/adapters"
	"github.com/secure-agent/secure-agent/services/publisher/internal/app"
	"github.com/secure-agent/secure-agent/services/publisher/internal/ports"
)

// maxCompactTargetBytes keeps an upload file, base64-encoded for the
// binding and overshooting by one batch, inside the sidecar's 128 MiB
// gRPC messages.
const maxCompactTargetBytes = 80 << 20

// Settings are the publisher's own settings.
type Settings struct {
	StagingBinding     string
	StateStore         string
	CompactTargetBytes int
	StagingSweep       time.Duration
	MaxDeletionShare   float64
	ClaimTTL           time.Duration
	Concurrency        int
	// ControlPlane is the link to the control plane's ingest API, the
	// destination named job.DestinationControlPlane (off without a URL).
	ControlPlane controlplane.Settings
}

// Spec is the publisher service for bootstrap.Run.
func Spec() bootstrap.Spec {
	var s Settings
	return bootstrap.Spec{
		Name:           "publisher",
		DefaultAppPort: 6003,
		AnswerProbes:   true,
		GCPercent:      gctune.DefaultPercent,
		Settings: func(l *config.Loader) func(*config.Loader) {
			l.String(&s.StagingBinding, "STAGING_BINDING", "staging", "output binding the extractor stages files in")
			l.String(&s.StateStore, "STATE_STORE", "statestore", "state store component for the publisher's records")
			l.Int(&s.CompactTargetBytes, "COMPACT_TARGET_BYTES", app.DefaultCompactTargetBytes,
				"an upload file is closed once its compressed size reaches this many bytes")
			l.Duration(&s.StagingSweep, "STAGING_SWEEP_INTERVAL", 10*time.Minute,
				"how often staged files left by ended jobs (a run killed after its job ended) are deleted")
			l.Float(&s.MaxDeletionShare, "MAX_DELETION_SHARE", changeset.DefaultMaxDeletionShare,
				"share of a connection's catalog one run may delete; above it the run's deletions are withheld (a job's max_deletion_share overrides it)")
			l.Duration(&s.ClaimTTL, "PUBLISH_CLAIM_TTL", app.DefaultClaimTTL,
				"a replica publishing a partition holds a claim on it in the state store, renewed every TTL/5; another replica waits for it, "+
					"and takes the partition over when the claim was not renewed for this long (a replica that died)")
			l.Int(&s.Concurrency, "PUBLISH_CONCURRENCY", app.DefaultConcurrency,
				"partitions this replica verifies, compacts and uploads at once, and staged files it checks at once on their batch-ready (finalize does not count)")
			checkControlPlane := controlplane.Register(l, &s.ControlPlane)
			return func(l *config.Loader) {
				checkControlPlane(l)
				l.Check(s.StagingBinding != "", "STAGING_BINDING", "is empty; name the staging output binding component")
				l.Check(s.StateStore != "", "STATE_STORE", "is empty; name the state store component")
				l.Check(s.Concurrency >= 1 && s.Concurrency <= 64, "PUBLISH_CONCURRENCY", "must be from 1 to 64")
				l.Check(s.ClaimTTL >= 5*time.Second && s.ClaimTTL <= 10*time.Minute, "PUBLISH_CLAIM_TTL", "must be from 5s to 10m")
				l.Check(s.StagingSweep >= time.Second, "STAGING_SWEEP_INTERVAL", "must be at least 1s")
				l.Check(s.MaxDeletionShare > 0 && s.MaxDeletionShare <= 1, "MAX_DELETION_SHARE",
					"must be above 0 and at most 1 (0.2: a run may delete up to 20% of the catalog; 1: any share)")
				l.Check(s.CompactTargetBytes >= 1 && s.CompactTargetBytes <= maxCompactTargetBytes, "COMPACT_TARGET_BYTES",
					fmt.Sprintf("is %d; use 1 to %d (upload files travel base64-encoded through the sidecar's 128 MiB messages)",
						s.CompactTargetBytes, maxCompactTargetBytes))
			}
		},
		Wire: func(ctx context.Context, d bootstrap.Deps) (func(context.Context) error, error) {
			client := d.Sidecar.Client()
			stores := adapters.NewBindingStores(client,
				objectstore.WithTracerProvider(d.TracerProvider), objectstore.WithRegisterer(d.Registry))
			var cp *adapters.ControlPlaneStore
			if s.ControlPlane.Enabled() {
				cpClient, err := controlplane.NewFromSettings(s.ControlPlane,
					controlplane.DaprSecrets{Getter: d.SecretGetter, Store: s.ControlPlane.SecretStore}, d.Logger, d.Registry,
					controlplane.WithTracerProvider(d.TracerProvider), controlplane.WithAudit(d.Audit, d.Common.AppID))
				if err != nil {
					return nil, fmt.Errorf("control-plane link: %w", err)
				}
				if cp, err = adapters.NewControlPlaneStore(cpClient, d.Logger, d.Registry); err != nil {
					return nil, err
				}
			}
			svc, err := app.New(app.Options{
				Staging:            stores.Store(s.StagingBinding),
				Destinations:       adapters.NewDestinations(stores, cp).Open,
				Records:            adapters.NewRecordStore(client, s.StateStore),
				Versioned:          statestore.Store{Client: client, Name: s.StateStore, Owner: "the publisher"},
				MaxDeletionShare:   s.MaxDeletionShare,
				Events:             d.Publisher,
				CompactTargetBytes: int64(s.CompactTargetBytes),
				Logger:             d.Logger,
				Registerer:         d.Registry,
				TracerProvider:     d.TracerProvider,
				Audit:              d.Audit,
				Instance:           d.Common.Instance,
				ClaimTTL:           s.ClaimTTL,
				Concurrency:        s.Concurrency,
			})
			if err != nil {
				return nil, err
			}
			ports.Subscribe(d.Router, svc)
			ports.Register(d.App, svc)
			ports.RegisterDestinations(d.App, d.Sidecar, s.StagingBinding, cp != nil)
			var wg sync.WaitGroup
			wg.Go(func() { svc.RunStagingSweep(ctx, s.StagingSweep) })
			return func(context.Context) error { wg.Wait(); return nil }, nil
		},
	}
}
