package ports

import (
	"encoding/json"

	"github.com/gofiber/fiber/v2"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/services/publisher/internal/app"
)

// Register adds the routes the orchestrator invokes.
func Register(f *fiber.App, svc *app.Service) {
	f.Post("/v1/jobs/:id/finalize", func(c *fiber.Ctx) error {
		var req job.FinalizeRequest
		if err := json.Unmarshal(c.Body(), &req); err != nil {
			return errkind.Wrap(errkind.Invalid, err, "finalize request body is not a job.FinalizeRequest")
		}
		out, err := svc.Finalize(c.UserContext(), c.Params("id"), req)
		if err != nil {
			return err
		}
		return c.JSON(out)
	})
	f.Post("/v1/jobs/:id/cancel", func(c *fiber.Ctx) error {
		if err := svc.Cancel(c.UserContext(), c.Params("id")); err != nil {
			return err
		}
		return c.JSON(fiber.Map{"id": c.Params("id"), "state": job.Cancelled})
	})
	f.Get("/v1/jobs/:id/plan", func(c *fiber.Ctx) error {
		p, err := svc.Plan(c.UserContext(), c.Params("id"))
		if err != nil {
			return err
		}
		return c.JSON(p)
	})
	f.Get("/v1/jobs/:id/manifest", func(c *fiber.Ctx) error {
		data, err := svc.Manifest(c.UserContext(), c.Params("id"))
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(data)
	})
}
