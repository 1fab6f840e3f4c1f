// Package ports exposes the orchestrator's use cases: the job API over
// HTTP and the pipeline events it subscribes to.
package ports

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/services/orchestrator/internal/app"
)

const cancelSuffix = ":cancel"

// RegisterHTTP adds the job API:
//
//	POST /v1/jobs                 spec (YAML or JSON) → 202 job.Submitted; an
//	                              Idempotency-Key header makes a retried submit safe
//	GET  /v1/jobs?limit=N         → job.List, newest first
//	GET  /v1/jobs/{id}            → job.Status
//	POST /v1/jobs/{id}:cancel     → 202 job.Submitted (state before cancelling)
//	GET  /v1/jobs/{id}/manifest   → the publisher's manifest JSON
//	GET  /v1/jobs/{id}/plan       → a dry run's plan (job.Plan)
func RegisterHTTP(f *fiber.App, jobs *app.Jobs) {
	f.Post("/v1/jobs", func(c *fiber.Ctx) error {
		// The size is checked before anything is parsed or copied.
		body := c.Body()
		if len(body) > job.MaxSpecBytes {
			return errkind.New(errkind.Invalid, "job spec is "+strconv.Itoa(len(body))+" bytes; the limit is "+strconv.Itoa(job.MaxSpecBytes))
		}
		sub, err := jobs.Submit(c.UserContext(), body, strings.Clone(c.Get("Idempotency-Key")))
		if err != nil {
			return err
		}
		c.Location("/v1/jobs/" + sub.ID)
		return c.Status(fiber.StatusAccepted).JSON(sub)
	})
	f.Get("/v1/jobs", func(c *fiber.Ctx) error {
		limit := 0
		if v := c.Query("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return errkind.New(errkind.Invalid, "limit: "+strconv.Quote(v)+" is not a positive whole number")
			}
			limit = n
		}
		list, err := jobs.List(c.UserContext(), limit)
		if err != nil {
			return err
		}
		return c.JSON(list)
	})
	f.Get("/v1/jobs/:id", func(c *fiber.Ctx) error {
		id, err := param(c)
		if err != nil {
			return err
		}
		st, err := jobs.Get(c.UserContext(), id)
		if err != nil {
			return err
		}
		return c.JSON(st)
	})
	// The cancel route is the Google-style custom method /v1/jobs/{id}:cancel;
	// the id segment is parsed here because ':' starts a Fiber parameter.
	f.Post("/v1/jobs/:id", func(c *fiber.Ctx) error {
		seg, err := param(c)
		if err != nil {
			return err
		}
		id, ok := strings.CutSuffix(seg, cancelSuffix)
		if !ok {
			return errkind.New(errkind.NotFound, "no such operation: POST /v1/jobs/"+seg+"; to cancel a job POST /v1/jobs/{id}:cancel")
		}
		sub, err := jobs.Cancel(c.UserContext(), id)
		if err != nil {
			return err
		}
		return c.Status(fiber.StatusAccepted).JSON(sub)
	})
	f.Get("/v1/jobs/:id/plan", func(c *fiber.Ctx) error {
		id, err := param(c)
		if err != nil {
			return err
		}
		p, err := jobs.Plan(c.UserContext(), id)
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(p)
	})
	f.Get("/v1/jobs/:id/manifest", func(c *fiber.Ctx) error {
		id, err := param(c)
		if err != nil {
			return err
		}
		m, err := jobs.Manifest(c.UserContext(), id)
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(m)
	})
}

// param is the unescaped :id segment (clients may send ':' as %3A).
func param(c *fiber.Ctx) (string, error) {
	raw := c.Params("id")
	v, err := url.PathUnescape(raw)
	if err != nil {
		return "", errkind.New(errkind.Invalid, "job id "+strconv.Quote(raw)+" is not a valid URL path segment")
	}
	return v, nil
}
