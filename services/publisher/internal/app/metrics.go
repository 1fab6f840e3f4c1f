package app

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the publisher's business counters.
type metrics struct {
	batches    *prometheus.CounterVec // result: verified, mismatched, missing
	partitions *prometheus.CounterVec // result: published, failed
	files      prometheus.Counter
	bytes      prometheus.Counter
	manifests  prometheus.Counter
	invalid    *prometheus.CounterVec // topic
	ignored    *prometheus.CounterVec // topic, reason
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secure_agent_publisher_batches_total",
			Help: "Staged batches checked against their announced sha256, by result (verified, mismatched, missing).",
		}, []string{"result"}),
		partitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secure_agent_publisher_partitions_total",
			Help: "Partitions finished by the publisher, by result (published, failed).",
		}, []string{"result"}),
		files: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "secure_agent_publisher_upload_files_total",
			Help: "Upload files written, counted once per destination.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "secure_agent_publisher_upload_bytes_total",
			Help: "Bytes of upload files written, counted once per destination.",
		}),
		manifests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "secure_agent_publisher_manifests_written_total",
			Help: "Job manifests written, counted once per destination.",
		}),
		invalid: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secure_agent_publisher_invalid_events_total",
			Help: "Events that could not be decoded or were invalid, dropped to the dead-letter topic, by topic.",
		}, []string{"topic"}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secure_agent_publisher_ignored_events_total",
			Help: "Events acknowledged without work, by topic and reason (job_cancelled, job_finalized, partition_published, run_failed).",
		}, []string{"topic", "reason"}),
	}
	for _, r := range []string{"verified", "mismatched", "missing"} {
		m.batches.WithLabelValues(r)
	}
	for _, r := range []string{"published", "failed"} {
		m.partitions.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.batches, m.partitions, m.files, m.bytes, m.manifests, m.invalid, m.ignored} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register publisher metrics: %w", err)
		}
	}
	return m, nil
}
