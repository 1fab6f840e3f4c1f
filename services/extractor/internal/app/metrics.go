package app

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/secure-agent/secure-agent/libs/metricdef"
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

// Results of a preflight and of a run.
const (
	preflightOK      = "ok"
	preflightFailed  = "failed"
	preflightInvalid = "invalid"
	runOK            = "ok"
	runFailed        = "failed"
)

// Metrics of the extractor's use cases, built from libs/metricdef.
type Metrics struct {
	requests  *prometheus.CounterVec
	rows      *prometheus.CounterVec
	files     *prometheus.CounterVec
	bytes     *prometheus.CounterVec
	runs      *prometheus.HistogramVec
	preflight *prometheus.CounterVec
	announced prometheus.Counter
}

// NewMetrics builds the metrics, with every known label value at zero so
// rate() works before the first event, and registers them on reg (nil:
// not registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests:  metricdef.ExtractorRequests.CounterVec(),
		rows:      metricdef.AssetsExtracted.CounterVec(),
		files:     metricdef.StagedFiles.CounterVec(),
		bytes:     metricdef.StagedBytes.CounterVec(),
		runs:      metricdef.ExtractorRunDuration.HistogramVec(),
		preflight: metricdef.ExtractorPreflights.CounterVec(),
		announced: metricdef.BatchesAnnounced.Counter(),
	}
	for _, r := range []string{ResultExtracted, ResultFailed, ResultReplayed, ResultJoined, ResultInvalid, ResultRetry} {
		m.requests.WithLabelValues(r)
	}
	for _, r := range []string{preflightOK, preflightFailed, preflightInvalid} {
		m.preflight.WithLabelValues(r)
	}
	for _, r := range []string{runOK, runFailed} {
		m.runs.WithLabelValues(r)
	}
	for _, k := range model.Kinds {
		m.rows.WithLabelValues(string(k))
		m.files.WithLabelValues(string(k))
		m.bytes.WithLabelValues(string(k))
	}
	if err := metricdef.Register(reg, m.requests, m.rows, m.files, m.bytes, m.runs, m.preflight, m.announced); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Metrics) request(result string) { m.requests.WithLabelValues(result).Inc() }

func (m *Metrics) preflighted(result string) { m.preflight.WithLabelValues(result).Inc() }

func (m *Metrics) staged(kind model.Kind, bytes int) {
	m.files.WithLabelValues(string(kind)).Inc()
	m.bytes.WithLabelValues(string(kind)).Add(float64(bytes))
}

// batchAnnounced counts a batch-ready event published, replays included.
func (m *Metrics) batchAnnounced() { m.announced.Inc() }

func (m *Metrics) run(ok bool, took time.Duration, rows map[model.Kind]int64) {
	result := runOK
	if !ok {
		result = runFailed
	}
	m.runs.WithLabelValues(result).Observe(took.Seconds())
	for k, n := range rows {
		m.rows.WithLabelValues(string(k)).Add(float64(n))
	}
}
