package ports

import (
	"context"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/pubsub"
	"github.com/secure-agent/secure-agent/services/health/internal/app"
)

// DeadLetterList is the answer of GET /v1/deadletters.
type DeadLetterList struct {
	DeadLetters []app.DeadLetterRecord `json:"dead_letters"`
}

// SubscribeDeadLetters keeps every dead letter the apps publish. One that
// cannot be kept is retried by the broker; one that does not decode is
// dropped (a dead letter of a dead letter would loop) and logged.
func SubscribeDeadLetters(r Subscriber, dls *app.DeadLetters) {
	r.Subscribe(job.TopicDeadLetter, "", func(ctx context.Context, ev pubsub.Event) error {
		var dl pubsub.DeadLetter
		if err := ev.Decode(&dl); err != nil {
			return err
		}
		return dls.Receive(ctx, dl)
	})
}

// RegisterDeadLetters adds the operator routes agentctl deadletters uses:
//
//	GET  /v1/deadletters              → DeadLetterList (oldest first)
//	GET  /v1/deadletters/{id}         → app.DeadLetterRecord
//	POST /v1/deadletters/{id}:replay  → app.ReplayOutcome
//	POST /v1/deadletters/{id}:discard → 204
func RegisterDeadLetters(f *fiber.App, dls *app.DeadLetters) {
	f.Get("/v1/deadletters", func(c *fiber.Ctx) error {
		recs, err := dls.List(c.UserContext())
		if err != nil {
			return err
		}
		return c.JSON(DeadLetterList{DeadLetters: recs})
	})
	f.Get("/v1/deadletters/:id", func(c *fiber.Ctx) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		rec, err := dls.Get(c.UserContext(), id)
		if err != nil {
			return err
		}
		return c.JSON(rec)
	})
	f.Post("/v1/deadletters/:id", func(c *fiber.Ctx) error {
		seg, err := pathID(c)
		if err != nil {
			return err
		}
		if id, ok := strings.CutSuffix(seg, ":replay"); ok {
			out, err := dls.Replay(c.UserContext(), id)
			if err != nil {
				return err
			}
			return c.JSON(out)
		}
		if id, ok := strings.CutSuffix(seg, ":discard"); ok {
			if err := dls.Discard(c.UserContext(), id); err != nil {
				return err
			}
			return c.SendStatus(fiber.StatusNoContent)
		}
		return errkind.New(errkind.NotFound, "no such operation: POST /v1/deadletters/"+seg+
			"; use POST /v1/deadletters/{id}:replay or /v1/deadletters/{id}:discard")
	})
}

func pathID(c *fiber.Ctx) (string, error) {
	raw := c.Params("id")
	v, err := url.PathUnescape(raw)
	if err != nil {
		return "", errkind.New(errkind.Invalid, "dead letter id "+strconv.Quote(raw)+" is not a valid URL path segment")
	}
	return v, nil
}
