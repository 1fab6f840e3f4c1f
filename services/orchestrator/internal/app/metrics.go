package app

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/metricdef"
)

// Phases of secure_agent_job_phase_duration_seconds.
const (
	MetricPhaseQueued    = "queued"
	MetricPhasePreflight = "preflight"
	MetricPhaseExtract   = "extract"
	MetricPhaseFinalize  = "finalize"
)

// Metrics of the orchestrator. A nil *Metrics records nothing. Workflow
// code records only when it is not replaying, so a step counts once.
type Metrics struct {
	jobsStarted       *prometheus.CounterVec
	jobsFinished      *prometheus.CounterVec
	jobDuration       *prometheus.HistogramVec
	phaseDuration     *prometheus.HistogramVec
	lastSuccess       *prometheus.GaugeVec
	partitionsSent    prometheus.Counter
	partitionsRetried *prometheus.CounterVec
	eventsRaised      *prometheus.CounterVec
	leases            *prometheus.CounterVec
	pollerLease       prometheus.Gauge
	scheduleFires     *prometheus.CounterVec
	schedules         prometheus.Gauge

	mu       sync.Mutex
	inFlight map[string]int // by job: partitions requested and not yet done
	last     map[string]time.Time
}

// NewMetrics registers the orchestrator's metrics on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		jobsStarted:       metricdef.JobsStarted.CounterVec(),
		jobsFinished:      metricdef.JobsFinished.CounterVec(),
		jobDuration:       metricdef.JobDuration.HistogramVec(),
		phaseDuration:     metricdef.JobPhaseDuration.HistogramVec(),
		lastSuccess:       metricdef.LastSuccess.GaugeVec(),
		partitionsSent:    metricdef.PartitionsDispatched.Counter(),
		partitionsRetried: metricdef.PartitionRetries.CounterVec(),
		eventsRaised:      metricdef.WorkflowEvents.CounterVec(),
		leases:            metricdef.CPLeases.CounterVec(),
		pollerLease:       metricdef.CPPollerHeld.Gauge(),
		scheduleFires:     metricdef.ScheduleFires.CounterVec(),
		schedules:         metricdef.Schedules.Gauge(),
		inFlight:          map[string]int{},
		last:              map[string]time.Time{},
	}
	// Every series a dashboard or alert divides by exists from the start.
	for _, kind := range []string{"postgres", "mysql", "sqlite"} {
		m.jobsStarted.WithLabelValues(kind)
		for _, st := range []job.State{job.Succeeded, job.Failed, job.Cancelled} {
			m.jobsFinished.WithLabelValues(string(st), kind)
		}
	}
	for _, r := range []string{RetryDeadline, RetryFailed} {
		m.partitionsRetried.WithLabelValues(r)
	}
	for _, t := range []EventType{EventPartitionDone, EventPublishDone, EventCancel, EventDeadline, EventWake} {
		m.eventsRaised.WithLabelValues(string(t))
	}
	for _, e := range []string{LeaseAcquired, LeaseLost, LeaseReleased} {
		m.leases.WithLabelValues(e)
	}
	for _, o := range []string{job.FireStarted, job.FireSkipped, FireFailed} {
		m.scheduleFires.WithLabelValues(o)
	}
	inFlight := metricdef.PartitionsInFlight.GaugeFunc(m.partitionsInFlight)
	if err := metricdef.Register(reg, m.jobsStarted, m.jobsFinished, m.jobDuration, m.phaseDuration, m.lastSuccess,
		m.partitionsSent, m.partitionsRetried, m.eventsRaised, m.leases, m.pollerLease, m.scheduleFires, m.schedules, inFlight); err != nil {
		return nil, fmt.Errorf("orchestrator: %w", err)
	}
	return m, nil
}

// Reasons of secure_agent_orchestrator_partition_retries_total.
const (
	RetryDeadline = "deadline"
	RetryFailed   = "failed"
)

func (m *Metrics) jobStarted(sourceKind string) {
	if m != nil {
		m.jobsStarted.WithLabelValues(sourceKind).Inc()
	}
}

func (m *Metrics) jobFinished(st job.Status, took time.Duration) {
	if m == nil {
		return
	}
	m.jobsFinished.WithLabelValues(string(st.State), st.SourceKind).Inc()
	m.jobDuration.WithLabelValues(string(st.State), st.SourceKind).Observe(took.Seconds())
	m.mu.Lock()
	delete(m.inFlight, st.ID)
	m.mu.Unlock()
	if st.State == job.Succeeded && st.FinishedAt != nil {
		m.succeeded(st.Connection, *st.FinishedAt)
	}
}

// succeeded moves the connection's last success forward (never back: a
// job read from history at start may be older than one that just ended).
func (m *Metrics) succeeded(connection string, at time.Time) {
	if m == nil || connection == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if at.After(m.last[connection]) {
		m.last[connection] = at
		m.lastSuccess.WithLabelValues(connection).Set(float64(at.UnixNano()) / 1e9)
	}
}

func (m *Metrics) phase(name string, took time.Duration) {
	if m != nil && took >= 0 {
		m.phaseDuration.WithLabelValues(name).Observe(took.Seconds())
	}
}

func (m *Metrics) partitionsRequested(n int) {
	if m != nil {
		m.partitionsSent.Add(float64(n))
	}
}

// inFlightOf sets how many partitions of a job are requested and not done.
func (m *Metrics) inFlightOf(jobID string, n int) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if n <= 0 {
		delete(m.inFlight, jobID)
		return
	}
	m.inFlight[jobID] = n
}

func (m *Metrics) partitionsInFlight() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, v := range m.inFlight {
		n += v
	}
	return float64(n)
}

func (m *Metrics) partitionRetried(reason string) {
	if m != nil {
		m.partitionsRetried.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) eventRaised(t EventType) {
	if m != nil {
		m.eventsRaised.WithLabelValues(string(t)).Inc()
	}
}

func (m *Metrics) lease(event string) {
	if m != nil {
		m.leases.WithLabelValues(event).Inc()
	}
}

func (m *Metrics) pollerHeld(held bool) {
	if m != nil {
		v := 0.0
		if held {
			v = 1
		}
		m.pollerLease.Set(v)
	}
}

func (m *Metrics) scheduleFired(outcome string) {
	if m != nil {
		m.scheduleFires.WithLabelValues(outcome).Inc()
	}
}

func (m *Metrics) schedulesRegistered(n int) {
	if m != nil {
		m.schedules.Set(float64(n))
	}
}
