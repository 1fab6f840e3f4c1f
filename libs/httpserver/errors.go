package httpserver

import (
	"errors"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/logging"
)

// ErrorBody is the one JSON shape every error response has.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail names the kind so clients can branch without parsing text.
type ErrorDetail struct {
	Kind      string `json:"kind"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
}

// handleError is the only place request errors are logged and mapped to a
// status: handlers just return errors with a kind.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	var status int
	var kind string
	msg := err.Error()
	var fe *fiber.Error
	if errors.As(err, &fe) {
		status, kind = fe.Code, fiberKind(fe.Code)
	} else {
		k := errkind.Of(err)
		status, kind = errkind.HTTPStatus(k), k.String()
	}
	if status >= 500 {
		logging.WithTrace(c.UserContext(), s.log).Error("request failed", zap.Error(err), zap.Int("status", status),
			zap.String("method", c.Method()), zap.String("path", c.Path()), zap.String("request_id", requestID(c)))
		if status == fiber.StatusInternalServerError {
			// Internal details stay in the log; the caller gets the request id to quote.
			msg = "internal error; the service log has details under this request id"
		}
	}
	return c.Status(status).JSON(ErrorBody{Error: ErrorDetail{Kind: kind, Message: msg, RequestID: requestID(c)}})
}

func fiberKind(code int) string {
	switch {
	case code == fiber.StatusNotFound:
		return errkind.NotFound.String()
	case code == fiber.StatusUnauthorized || code == fiber.StatusForbidden:
		return errkind.Unauthorized.String()
	case code == fiber.StatusConflict:
		return errkind.Conflict.String()
	case code == fiber.StatusServiceUnavailable || code == fiber.StatusTooManyRequests:
		return errkind.Transient.String()
	case code >= 400 && code < 500:
		return errkind.Invalid.String()
	default:
		return errkind.Internal.String()
	}
}
