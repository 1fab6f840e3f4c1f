package httpserver

import (
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracing continues the caller's trace (Dapr forwards traceparent on
// invocation and pub/sub delivery) so one job is one trace across services.
func tracing(tracer trace.Tracer, prop propagation.TextMapPropagator) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx := prop.Extract(c.UserContext(), headerCarrier{c})
		ctx, span := tracer.Start(ctx, c.Method()+" "+c.Path(), trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		c.SetUserContext(ctx)
		err := c.Next()
		span.SetName(c.Method() + " " + c.Route().Path)
		status := c.Response().StatusCode()
		span.SetAttributes(attribute.String("http.route", utils.CopyString(c.Route().Path)), attribute.Int("http.response.status_code", status))
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		return err
	}
}

type headerCarrier struct{ c *fiber.Ctx }

func (h headerCarrier) Get(key string) string { return h.c.Get(key) }
func (h headerCarrier) Set(key, value string) { h.c.Set(key, value) }
func (h headerCarrier) Keys() []string {
	var keys []string
	h.c.Request().Header.VisitAll(func(k, _ []byte) { keys = append(keys, string(k)) })
	return keys
}
