package logship

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/secure-agent/secure-agent/libs/metricdef"
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
		dropped:   metricdef.JobLogLinesDropped.CounterVec(),
		published: metricdef.JobLogLinesPublished.Counter(),
	}
	// Both reasons exist from the start, so a rate() over them works before
	// the first drop.
	m.dropped.WithLabelValues(ReasonBufferFull)
	m.dropped.WithLabelValues(ReasonPublishFailed)
	buffered := metricdef.JobLogBuffered.GaugeFunc(func() float64 { n, _ := size(); return float64(n) })
	if err := metricdef.Register(reg, m.dropped, m.published, buffered); err != nil {
		return nil, fmt.Errorf("job log shipping: %w", err)
	}
	return m, nil
}
