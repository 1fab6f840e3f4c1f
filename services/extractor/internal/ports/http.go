// Package ports exposes the extractor's use cases: its HTTP API (called
// through Dapr service invocation) and its pub/sub subscription.
package ports

import (
	"context"
	"fmt"
	"regexp"

	"github.com/gofiber/fiber/v2"

	"github.com/secure-agent/secure-agent/libs/audit"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
)

// Preflighter is the preflight use case.
type Preflighter interface {
	Preflight(ctx context.Context, spec job.Spec) (job.Preflight, error)
}

var jobIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// RegisterHTTP adds POST /v1/preflight: a job.Spec in, a job.Preflight
// out. An invalid spec answers 400 listing every problem; a source that
// cannot be reached answers 200 with a failing check.
func RegisterHTTP(f *fiber.App, p Preflighter) {
	f.Post("/v1/preflight", func(c *fiber.Ctx) error {
		spec, err := job.ParseSpec(c.Body())
		if err != nil {
			return errkind.Wrap(errkind.Invalid, err, "")
		}
		ctx := c.UserContext()
		if id := c.Query("job_id"); id != "" {
			if !jobIDPattern.MatchString(id) {
				return errkind.New(errkind.Invalid, fmt.Sprintf("job_id %q is not a job id", id))
			}
			ctx = audit.WithJob(ctx, id)
		}
		out, err := p.Preflight(ctx, spec)
		if err != nil {
			return err
		}
		return c.JSON(out)
	})
}
