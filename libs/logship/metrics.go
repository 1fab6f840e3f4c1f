package logship

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons of secure_agent_job_log_lines_dropped_total.
const (
	ReasonBufferFull    = "buffer_full"
	ReasonPublishFailed = "publish_failed"
)

type metrics struct {
	dropped   *prometheus.CounterVec
	published prometheus.Counter
}

// newMetrics registers on reg when it is not nil; size reports the buffer.
func newMetrics(reg prometheus.Registerer, size func() (int, int)) (*metrics, error) {
	m := &metrics{
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secure_agent_job_log_lines_dropped_total",
			Help: "Job log lines this service dropped instead of shipping them to health, by reason (buffer_full, publish_failed).",
		}, []string{"reason"}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "secure_agent_job_log_lines_published_total",
			Help: "Job log lines this service published on the job-logs topic.",
		}),
	}
	// Both reasons exist from the start, so a rate() over them works before
	// the first drop.
	m.dropped.WithLabelValues(ReasonBufferFull)
	m.dropped.WithLabelValues(ReasonPublishFailed)
	if reg == nil {
		return m, nil
	}
	buffered := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "secure_agent_job_log_buffered_lines",
		Help: "Job log lines waiting in this service's buffer for the next publish.",
	}, func() float64 { n, _ := size(); return float64(n) })
	for _, c := range []prometheus.Collector{m.dropped, m.published, buffered} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register job log shipping metrics: %w", err)
		}
	}
	return m, nil
}
