// Command extractor is the job pipeline's extraction worker: it answers
// preflights and extracts one partition per request into staged Arrow
// files (ADR 0007).
package main

import (
	"context"
	"fmt"

	"github.com/secure-agent/secure-agent/libs/bootstrap"
	"github.com/secure-agent/secure-agent/libs/config"
	"github.com/secure-agent/secure-agent/libs/gctune"
	"github.com/secure-agent/secure-agent/libs/objectstore"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/dbobs"
	"github.com/secure-agent/secure-agent/services/extractor/connector/mysql"
	"github.com/secure-agent/secure-agent/services/extractor/connector/postgres"
	"github.com/secure-agent/secure-agent/services/extractor/connector/sqlite"
	"github.com/secure-agent/secure-agent/services/extractor/internal/adapters"
	"github.com/secure-agent/secure-agent/services/extractor/internal/app"
	"github.com/secure-agent/secure-agent/services/extractor/internal/ports"
)

func main() { bootstrap.Main(service()) }

// settings are the extractor's own settings.
type settings struct {
	stagingBinding string
	stateStore     string
	fileBytes      int
	concurrency    int
}

// Bounds of STAGING_FILE_BYTES: a staged file crosses the sidecar as one
// base64-encoded message, limited to 128 MiB.
const (
	minFileBytes = 1 << 10
	maxFileBytes = 64 << 20
)

func service() bootstrap.Spec {
	var s settings
	return bootstrap.Spec{
		Name:           "extractor",
		DefaultAppPort: 6002,
		AnswerProbes:   true,
		GCPercent:      gctune.DefaultPercent,
		Settings: func(l *config.Loader) func(*config.Loader) {
			l.String(&s.stagingBinding, "STAGING_BINDING", "staging", "output binding of the staging object store")
			l.String(&s.stateStore, "STATE_STORE", "statestore", "state store component holding the records of finished runs")
			l.Int(&s.fileBytes, "STAGING_FILE_BYTES", 8<<20, "compressed size at which a staged file is closed and announced")
			l.Int(&s.concurrency, "EXTRACT_CONCURRENCY", 2, "partitions this replica extracts at once")
			return func(l *config.Loader) {
				l.Check(s.stagingBinding != "", "STAGING_BINDING", "must name the staging output binding")
				l.Check(s.stateStore != "", "STATE_STORE", "must name a state store component")
				l.Check(s.fileBytes >= minFileBytes && s.fileBytes <= maxFileBytes, "STAGING_FILE_BYTES",
					fmt.Sprintf("must be from %d (1 KiB) to %d (64 MiB)", minFileBytes, maxFileBytes))
				l.Check(s.concurrency >= 1 && s.concurrency <= 64, "EXTRACT_CONCURRENCY", "must be from 1 to 64")
			}
		},
		Wire: func(ctx context.Context, d bootstrap.Deps) (func(context.Context) error, error) {
			return nil, wire(ctx, d, s)
		},
	}
}

// connectors is every source kind the extractor reads, each statement
// and connection observed by obs.
func connectors(obs *dbobs.Observer) connector.Registry {
	return connector.Registry{
		postgres.Kind: postgres.Observed(obs),
		mysql.Kind:    mysql.Observed(obs),
		sqlite.Kind:   sqlite.Observed(obs),
	}
}

func wire(ctx context.Context, d bootstrap.Deps, s settings) error {
	client := d.Sidecar.Client()
	reads, err := adapters.NewSecretReads(d.Registry)
	if err != nil {
		return err
	}
	creds, err := adapters.NewSecretSource(reads.Counting(d.SecretGetter))
	if err != nil {
		return err
	}
	records, err := adapters.NewRecordStore(client, s.stateStore)
	if err != nil {
		return err
	}
	metrics, err := app.NewMetrics(d.Registry)
	if err != nil {
		return err
	}
	obs, err := dbobs.New(d.TracerProvider, d.Registry)
	if err != nil {
		return err
	}
	sources := connectors(obs)
	preflight, err := app.NewPreflighter(sources, creds, 0, d.Logger, metrics, d.TracerProvider)
	if err != nil {
		return err
	}
	extractor, err := app.NewExtractor(app.ExtractorOptions{
		Connectors: sources, Credentials: creds,
		Staging: objectstore.New(client, s.stagingBinding,
			objectstore.WithTracerProvider(d.TracerProvider), objectstore.WithRegisterer(d.Registry)),
		Events: d.Publisher, Records: records,
		FileBytes: s.fileBytes, Concurrency: s.concurrency, Lifetime: ctx,
		Logger: d.Logger, Metrics: metrics, TracerProvider: d.TracerProvider, Audit: d.Audit,
	})
	if err != nil {
		return err
	}
	ports.RegisterHTTP(d.App, preflight)
	ports.RegisterEvents(d.Router, extractor)
	return nil
}
