package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// metricsListener serves GET /metrics, and nothing else, on METRICS_ADDR:
// the app port listens on loopback for its sidecar only, so a Prometheus
// or Datadog agent outside the pod scrapes this port instead. It answers
// no API and reads no token; the metrics hold no secret (labels are bounded
// and never a key, a DSN or a token: libs/metricdef).
type metricsListener struct {
	srv *http.Server
	ln  net.Listener
}

func listenMetrics(addr string, g prometheus.Gatherer, log *zap.Logger) (*metricsListener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener on %s (METRICS_ADDR): %w; pick a free port or leave METRICS_ADDR empty", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	m := &metricsListener{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}}
	go func() {
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", zap.Error(err))
		}
	}()
	log.Info("serving /metrics for scrapers", zap.String("metrics_addr", ln.Addr().String()))
	return m, nil
}

// Addr is where it listens.
func (m *metricsListener) Addr() string { return m.ln.Addr().String() }

func (m *metricsListener) close(ctx context.Context) error { return m.srv.Shutdown(ctx) }
