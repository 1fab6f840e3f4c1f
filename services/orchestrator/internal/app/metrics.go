package app

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/secure-agent/secure-agent/libs/job"
)

// Metrics of the orchestrator. A nil *Metrics records nothing.
type Metrics struct {
	jobsFinished      *prometheus.CounterVec
	partitionsRetried prometheus.Counter
	eventsRaised      *prometheus.CounterVec
}

// NewMetrics registers the orchestrator's metrics on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		jobsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secure_agent_orchestrator_jobs_finished_total",
			Help: "Jobs that ended, by final state (succeeded, failed, cancelled).",
		}, []string{"state"}),
		partitionsRetried: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "secure_agent_orchestrator_partition_retries_total",
			Help: "Partition attempts given up and retried (deadline passed or retryable extractor failure).",
		}),
		eventsRaised: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secure_agent_orchestrator_events_raised_total",
			Help: "Events raised into job workflows, by type (partition-done, publish-done, cancel, deadline).",
		}, []string{"type"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.jobsFinished, m.partitionsRetried, m.eventsRaised} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register orchestrator metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *Metrics) jobFinished(s job.State) {
	if m != nil {
		m.jobsFinished.WithLabelValues(string(s)).Inc()
	}
}

func (m *Metrics) partitionRetried() {
	if m != nil {
		m.partitionsRetried.Inc()
	}
}

func (m *Metrics) eventRaised(t EventType) {
	if m != nil {
		m.eventsRaised.WithLabelValues(string(t)).Inc()
	}
}
