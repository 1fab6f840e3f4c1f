package controlplane

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	retries  *prometheus.CounterVec
	tokens   *prometheus.CounterVec
	refused  prometheus.Counter
}

// newMetrics registers on reg when it is not nil; the counters work either way.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secure_agent_controlplane_requests_total",
			Help: "Control-plane API requests sent, by operation and status class (2xx, 4xx, 5xx, error).",
		}, []string{"operation", "class"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secure_agent_controlplane_retries_total",
			Help: "Control-plane requests repeated after 429, 502-504 or a connection error, by operation.",
		}, []string{"operation"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secure_agent_controlplane_tokens_fetched_total",
			Help: "OAuth access tokens requested from the token endpoint, by result (ok, error).",
		}, []string{"result"}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "secure_agent_controlplane_egress_refused_total",
			Help: "Connections refused because the host is not on the egress allowlist.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.retries, m.tokens, m.refused} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register controlplane metrics: %w", err)
		}
	}
	return m, nil
}

func statusClass(status int) string {
	return fmt.Sprintf("%dxx", status/100)
}
