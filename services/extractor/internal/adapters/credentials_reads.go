package adapters

import (
	"context"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/secure-agent/secure-agent/libs/daprclient"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/metricdef"
)

// Results of secure_agent_secret_reads_total.
const (
	ReadOK       = "ok"
	ReadNotFound = "not_found"
	ReadDenied   = "denied"
	ReadError    = "error"
)

// SecretReads counts the reads of Dapr secret stores by store and
// result: every GetSecret the credentials send, the secret itself and its
// host binding alike. Never the key.
type SecretReads struct {
	reads *prometheus.CounterVec

	mu    sync.Mutex
	known map[string]bool // stores whose series exist
}

// NewSecretReads builds the counter and registers it on reg (nil: not
// exported).
func NewSecretReads(reg prometheus.Registerer) (*SecretReads, error) {
	r := &SecretReads{reads: metricdef.SecretReads.CounterVec(), known: map[string]bool{}}
	if err := metricdef.Register(reg, r.reads); err != nil {
		return nil, err
	}
	return r, nil
}

// Counting returns getter with every read counted; a nil r counts
// nothing.
func (r *SecretReads) Counting(getter SecretGetter) SecretGetter {
	if r == nil || getter == nil {
		return getter
	}
	return countingGetter{inner: getter, reads: r}
}

func (r *SecretReads) count(store, result string) {
	r.reads.WithLabelValues(store, result).Inc()
	if result != ReadOK {
		return
	}
	// A store that answered exists: its other results start at zero, so
	// an alert on errors sees the series before the first. Stores named
	// by jobs but unknown to the sidecar get no such series.
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.known[store] {
		r.known[store] = true
		for _, res := range []string{ReadNotFound, ReadDenied, ReadError} {
			r.reads.WithLabelValues(store, res)
		}
	}
}

type countingGetter struct {
	inner SecretGetter
	reads *SecretReads
}

func (g countingGetter) GetSecret(ctx context.Context, store, key string, meta map[string]string) (map[string]string, error) {
	data, err := g.inner.GetSecret(ctx, store, key, meta)
	g.reads.count(store, readResult(err))
	return data, err
}

// readResult is the result label of a GetSecret answer.
func readResult(err error) string {
	if err == nil {
		return ReadOK
	}
	switch daprclient.SecretErrorKind(err) {
	case errkind.Unauthorized:
		return ReadDenied
	case errkind.NotFound:
		return ReadNotFound
	default:
		return ReadError
	}
}

func isNotFound(msg string) bool {
	return strings.Contains(msg, "NotFound") || strings.Contains(msg, "not found") || strings.Contains(msg, "failed finding")
}
