// Package ports exposes the health service's HTTP API.
package ports

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/secure-agent/secure-agent/services/health/internal/app"
)

// Register adds the operator-facing routes.
func Register(f *fiber.App, status *app.Status, prober *app.BrokerProber) {
	f.Get("/v1/status", func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), 10*time.Second)
		defer cancel()
		r := status.Check(ctx)
		if !r.Healthy {
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
