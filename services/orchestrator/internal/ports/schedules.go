package ports

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/services/orchestrator/internal/app"
)

// RegisterSchedules adds the schedule API and the route the sidecar
// delivers the scheduler's fires to:
//
//	POST   /v1/schedules          scheduled spec (YAML or JSON) → 201 (new) or 200
//	                              (replaced) job.ScheduleStatus
//	GET    /v1/schedules          → job.ScheduleList, by name
//	DELETE /v1/schedules/{name}   → 204
//	POST   /job/{name}            a fire from Dapr's scheduler (sidecar only)
func RegisterSchedules(f *fiber.App, s *app.Schedules) {
	f.Post("/v1/schedules", func(c *fiber.Ctx) error {
		body := c.Body()
		if len(body) > job.MaxSpecBytes {
			return errkind.New(errkind.Invalid, "job spec is "+strconv.Itoa(len(body))+" bytes; the limit is "+strconv.Itoa(job.MaxSpecBytes))
		}
		st, created, err := s.Put(c.UserContext(), body)
		if err != nil {
			return err
		}
		code := fiber.StatusOK
		if created {
			code = fiber.StatusCreated
		}
		c.Location("/v1/schedules/" + st.Name)
		return c.Status(code).JSON(st)
	})
	f.Get("/v1/schedules", func(c *fiber.Ctx) error {
		list, err := s.List(c.UserContext())
		if err != nil {
			return err
		}
		return c.JSON(list)
	})
	f.Delete("/v1/schedules/:name", func(c *fiber.Ctx) error {
		if err := s.Delete(c.UserContext(), strings.Clone(c.Params("name"))); err != nil {
			return err
		}
		return c.SendStatus(fiber.StatusNoContent)
	})
	f.Post("/job/:name", func(c *fiber.Ctx) error {
		name := strings.Clone(c.Params("name"))
		if !strings.HasPrefix(name, app.TriggerPrefix) {
			// Not a schedule's: acknowledged, so the scheduler does not retry it.
			return c.SendStatus(fiber.StatusOK)
		}
		if err := s.Fire(c.UserContext(), name, c.Body()); err != nil {
			return err
		}
		return c.SendStatus(fiber.StatusOK)
	})
}
