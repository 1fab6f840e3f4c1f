package app

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/secure-agent/secure-agent/libs/model"
)

// Results of an extraction request (the "result" label).
const (
	ResultExtracted = "extracted" // a new run finished and was announced
	ResultFailed    = "failed"    // a run failed; PartitionDone{ok:false} was published
	ResultReplayed  = "replayed"  // a finished record was announced again
	ResultJoined    = "joined"    // a redelivery waited for the running work
	ResultInvalid   = "invalid"   // undecodable or invalid: dropped to the dead letter
	ResultRetry     = "retry"     // interrupted or a dependency failed: redelivered later
)

// Metrics of the extractor's use cases.
type Metrics struct {
	requests  *prometheus.CounterVec
	rows      *prometheus.CounterVec
	files     *prometheus.CounterVec
	bytes     *prometheus.CounterVec
	runs      *prometheus.HistogramVec
	preflight *prometheus.CounterVec
}

// NewMetrics builds the metrics and registers them on reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secure_agent_extractor_requests_total",
			Help: "Extraction requests handled, by result (extracted, failed, replayed, joined, invalid, retry).",
		}, []string{"result"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secure_agent_extractor_rows_total",
			Help: "Rows staged by finished extraction runs, by asset kind.",
		}, []string{"kind"}),
		files: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secure_agent_extractor_staged_files_total",
			Help: "Arrow files written to the staging object store, by asset kind.",
		}, []string{"kind"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secure_agent_extractor_staged_bytes_total",
			Help: "Bytes of Arrow files written to the staging object store, by asset kind.",
		}, []string{"kind"}),
		runs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "secure_agent_extractor_run_duration_seconds",
			Help:    "Duration of extraction runs, by result (ok, failed).",
			Buckets: prometheus.ExponentialBuckets(0.1, 2.5, 12), // 0.1 s to about 6 h
		}, []string{"result"}),
		preflight: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secure_agent_extractor_preflights_total",
			Help: "Preflights answered, by outcome (ok, failed, invalid).",
		}, []string{"result"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.rows, m.files, m.bytes, m.runs, m.preflight} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register extractor metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *Metrics) request(result string) { m.requests.WithLabelValues(result).Inc() }

func (m *Metrics) staged(kind model.Kind, bytes int) {
	m.files.WithLabelValues(string(kind)).Inc()
	m.bytes.WithLabelValues(string(kind)).Add(float64(bytes))
}

func (m *Metrics) run(ok bool, took time.Duration, rows map[model.Kind]int64) {
	result := "ok"
	if !ok {
		result = "failed"
	}
	m.runs.WithLabelValues(result).Observe(took.Seconds())
	for k, n := range rows {
		m.rows.WithLabelValues(string(k)).Add(float64(n))
	}
}
