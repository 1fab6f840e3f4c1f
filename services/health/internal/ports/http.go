// Package ports exposes the health service's HTTP API.
package ports

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/secure-agent/secure-agent/services/health/internal/app"
)

// Register adds the operator-facing routes. statusTimeout bounds one
// GET /v1/status.
func Register(f *fiber.App, status *app.Status, prober *app.BrokerProber, statusTimeout time.Duration) {
	f.Get("/v1/status", func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), statusTimeout)
		defer cancel()
		r := status.Check(ctx)
		// Degraded still answers 200: the apps serve, and what is failing
		// is in the body. 503 means the agent cannot run a job.
		if r.Status == app.Down {
			c.Status(fiber.StatusServiceUnavailable)
		}
		return c.JSON(r)
	})
	f.Post("/v1/diag/broker-probe", func(c *fiber.Ctx) error {
		r := prober.Run(c.UserContext())
		if !r.OK {
			c.Status(fiber.StatusServiceUnavailable)
		}
		return c.JSON(r)
	})
}
