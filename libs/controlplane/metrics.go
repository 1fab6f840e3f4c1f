package controlplane

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/secure-agent/secure-agent/libs/metricdef"
)

// Reasons of secure_agent_controlplane_auth_failures_total.
const (
	authTokenRejected = "token_rejected"
	authUnauthorized  = "unauthorized"
	authForbidden     = "forbidden"
)

// Results of secure_agent_secret_reads_total.
const (
	secretOK       = "ok"
	secretNotFound = "not_found"
	secretDenied   = "denied"
	secretError    = "error"
)

type metrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	retries      *prometheus.CounterVec
	tokens       *prometheus.CounterVec
	authFailures *prometheus.CounterVec
	refused      prometheus.Counter
	secretReads  *prometheus.CounterVec
}

// newMetrics registers on reg when it is not nil; the counters work either way.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests:     metricdef.CPRequests.CounterVec(),
		duration:     metricdef.CPRequestDuration.HistogramVec(),
		retries:      metricdef.CPRetries.CounterVec(),
		tokens:       metricdef.CPTokens.CounterVec(),
		authFailures: metricdef.CPAuthFailures.CounterVec(),
		refused:      metricdef.CPEgressRefused.Counter(),
	}
	// Every reason and token result exists from the start, so an alert on
	// their rate sees a zero before the first failure instead of no series.
	for _, r := range []string{authTokenRejected, authUnauthorized, authForbidden} {
		m.authFailures.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "error"} {
		m.tokens.WithLabelValues(r)
	}
	if err := metricdef.Register(reg, m.requests, m.duration, m.retries, m.tokens, m.authFailures, m.refused); err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	// Secret reads are one metric for every component of the process that
	// reads a secret store: count into the collector another one registered.
	reads := metricdef.SecretReads.CounterVec()
	err := metricdef.Register(reg, reads)
	var are prometheus.AlreadyRegisteredError
	switch {
	case errors.As(err, &are):
		existing, ok := are.ExistingCollector.(*prometheus.CounterVec)
		if !ok {
			return nil, fmt.Errorf("controlplane: %s is registered as another type", metricdef.SecretReads.Name)
		}
		reads = existing
	case err != nil:
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	m.secretReads = reads
	return m, nil
}

func statusClass(status int) string {
	return fmt.Sprintf("%dxx", status/100)
}
