package app

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/secure-agent/secure-agent/libs/metricdef"
)

// Results of secure_agent_publisher_partitions_total and
// secure_agent_publisher_partition_duration_seconds.
const (
	resultPublished = "published"
	resultFailed    = "failed"
)

// metrics are the publisher's business metrics.
type metrics struct {
	batches          *prometheus.CounterVec // result: verified, mismatched, missing
	batchesPublished prometheus.Counter
	backlog          prometheus.Gauge
	partitions       *prometheus.CounterVec   // result: published, failed
	duration         *prometheus.HistogramVec // result: published, failed
	files            *prometheus.CounterVec   // destination
	bytes            *prometheus.CounterVec   // destination
	uploadFailures   *prometheus.CounterVec   // destination
	manifests        prometheus.Counter
	invalid          *prometheus.CounterVec // topic
	ignored          *prometheus.CounterVec // topic, reason

	catalogChanges         *prometheus.CounterVec // kind, change
	failSafes              *prometheus.CounterVec // failsafe
	catalogStateUnreadable prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		batches:          metricdef.PublisherBatches.CounterVec(),
		batchesPublished: metricdef.PublisherBatchesPublished.Counter(),
		backlog:          metricdef.PublisherBacklog.Gauge(),
		partitions:       metricdef.PublisherPartitions.CounterVec(),
		duration:         metricdef.PublisherPartitionDuration.HistogramVec(),
		files:            metricdef.PublisherUploadFiles.CounterVec(),
		bytes:            metricdef.PublisherUploadBytes.CounterVec(),
		uploadFailures:   metricdef.PublisherUploadFailures.CounterVec(),
		manifests:        metricdef.PublisherManifests.Counter(),
		invalid:          metricdef.PublisherInvalid.CounterVec(),
		ignored:          metricdef.PublisherIgnored.CounterVec(),

		catalogChanges:         metricdef.PublisherCatalogChanges.CounterVec(),
		failSafes:              metricdef.PublisherFailSafes.CounterVec(),
		catalogStateUnreadable: metricdef.PublisherCatalogStateUnreadable.Counter(),
	}
	for _, r := range []string{"verified", "mismatched", "missing"} {
		m.batches.WithLabelValues(r)
	}
	for _, r := range []string{resultPublished, resultFailed} {
		m.partitions.WithLabelValues(r)
	}
	if err := metricdef.Register(reg, m.batches, m.batchesPublished, m.backlog, m.partitions, m.duration,
		m.files, m.bytes, m.uploadFailures, m.manifests, m.invalid, m.ignored,
		m.catalogChanges, m.failSafes, m.catalogStateUnreadable); err != nil {
		return nil, fmt.Errorf("publisher: %w", err)
	}
	return m, nil
}
