package controlplane

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/secret"
)

// storeNamer is a SecretReader over a named secret store (DaprSecrets);
// the client counts its reads in secure_agent_secret_reads_total.
type storeNamer interface {
	StoreName() string
}

// countedSecrets counts every read of r by store and result; the key, which
// names the secret, is never a label.
type countedSecrets struct {
	r     SecretReader
	store string
	reads *prometheus.CounterVec
}

// countReads wraps r when it names a store; other readers (a test vault)
// are not a secret store and stay uncounted.
func countReads(r SecretReader, reads *prometheus.CounterVec) SecretReader {
	n, ok := r.(storeNamer)
	if !ok {
		return r
	}
	for _, res := range []string{secretOK, secretNotFound, secretDenied, secretError} {
		reads.WithLabelValues(n.StoreName(), res)
	}
	return countedSecrets{r: r, store: n.StoreName(), reads: reads}
}

func (c countedSecrets) Secret(ctx context.Context, key string) (secret.Value, error) {
	v, err := c.r.Secret(ctx, key)
	c.reads.WithLabelValues(c.store, secretResult(err)).Inc()
	return v, err
}

func secretResult(err error) string {
	switch {
	case err == nil:
		return secretOK
	case errkind.Of(err) == errkind.NotFound:
		return secretNotFound
	case errkind.Of(err) == errkind.Unauthorized:
		return secretDenied
	}
	return secretError
}
