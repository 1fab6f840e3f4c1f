package bootstrap

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// The metrics listener answers /metrics and nothing else.
func TestMetricsListenerServesOnlyMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "secure_agent_test_things_total", Help: "Things."})
	c.Add(3)
	require.NoError(t, reg.Register(c))
	m, err := listenMetrics("127.0.0.1:0", reg, zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.close(context.Background()) })

	get := func(method, path string) (int, string) {
		req, err := http.NewRequest(method, "http://"+m.Addr()+path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, body := get(http.MethodGet, "/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "secure_agent_test_things_total 3")
	for _, path := range []string{"/", "/v1/jobs", "/healthz", "/dapr/subscribe"} {
		code, _ := get(http.MethodGet, path)
		require.Equal(t, http.StatusNotFound, code, path)
	}
	code, _ = get(http.MethodPost, "/metrics")
	require.Equal(t, http.StatusMethodNotAllowed, code)
}

func TestMetricsListenerPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, err = listenMetrics(ln.Addr().String(), prometheus.NewRegistry(), zap.NewNop())
	require.ErrorContains(t, err, "METRICS_ADDR")
}
