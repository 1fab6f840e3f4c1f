package httpserver

import (
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/secure-agent/secure-agent/libs/metricdef"
)

type metrics struct {
	requests *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{requests: metricdef.HTTPRequestDuration.HistogramVec()}
	if err := metricdef.Register(reg, m.requests); err != nil {
		return nil, fmt.Errorf("http server: %w", err)
	}
	return m, nil
}

func (m *metrics) middleware(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	code := c.Response().StatusCode()
	if err != nil {
		// The error handler has not run yet; count what it will answer.
		if fe, ok := err.(*fiber.Error); ok {
			code = fe.Code
		} else {
			code = fiber.StatusInternalServerError
		}
	}
	// The route template, not the raw path, keeps label cardinality bounded.
	// fasthttp reuses the request's buffers: labels kept by the
	// registry must be copies.
	m.requests.WithLabelValues(utils.CopyString(c.Route().Path), utils.CopyString(c.Method()), strconv.Itoa(code)).Observe(time.Since(start).Seconds())
	return err
}

func metricsHandler(g prometheus.Gatherer) fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
}
