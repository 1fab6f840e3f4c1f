// Package errkind gives errors one of a few kinds so that the decision "what
// does the caller get" is made once, here, instead of in every handler:
// HTTPStatus maps a kind to a response status and PubSubStatus maps an error to
// the answer a Dapr pub/sub subscriber returns (retry or dead-letter).
//
// Code that creates an error picks the kind with New, Wrap or Errorf; code
// that answers a request or a message asks Of, HTTPStatus or PubSubStatus.
// Kinds travel through fmt.Errorf("...: %w", err) and errors.Join unchanged.
package errkind

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// Kind says what the caller can do about an error.
type Kind int

const (
	// Internal is a bug or an unexpected failure; it is the kind of every error
	// that has none, so forgetting to set a kind errs on the side of retrying.
	Internal Kind = iota
	// Invalid means the request or message itself is wrong; repeating it will not help.
	Invalid
	// NotFound means the thing asked for does not exist.
	NotFound
	// Conflict means the request clashes with the current state (duplicate, version mismatch).
	Conflict
	// Transient means a dependency is temporarily unavailable; repeating later may work.
	Transient
	// Unauthorized means the caller's credentials are missing or not accepted.
	Unauthorized
)

// String returns the kind's stable name, used in JSON error bodies and logs.
func (k Kind) String() string {
	switch k {
	case Internal:
		return "internal"
	case Invalid:
		return "invalid"
	case NotFound:
		return "not_found"
	case Conflict:
		return "conflict"
	case Transient:
		return "transient"
	case Unauthorized:
		return "unauthorized"
	default:
		return "kind(" + strconv.Itoa(int(k)) + ")"
	}
}

// kindError carries the kind; it stays unexported so the only ways to read a
// kind are Of and the mapping functions, which keeps the mapping in one place.
type kindError struct {
	kind Kind
	msg  string
	err  error
}

func (e *kindError) Error() string {
	switch {
	case e.err == nil:
		return e.msg
	case e.msg == "":
		return e.err.Error()
	default:
		return e.msg + ": " + e.err.Error()
	}
}

func (e *kindError) Unwrap() error { return e.err }

// New returns an error of kind k with the given message.
func New(k Kind, msg string) error {
	return &kindError{kind: k, msg: msg}
}

// Wrap gives err the kind k and prefixes msg ("msg: err"). errors.Is and
// errors.As still reach err. A nil err returns nil so that
// `return errkind.Wrap(k, err, "...")` is safe on the success path.
func Wrap(k Kind, err error, msg string) error {
	if err == nil {
		return nil
	}
	return &kindError{kind: k, msg: msg, err: err}
}

// Errorf formats like fmt.Errorf, including %w, and gives the result kind k.
func Errorf(k Kind, format string, args ...any) error {
	return &kindError{kind: k, err: fmt.Errorf(format, args...)}
}

// Of returns the outermost kind in err's chain, because the code closest to
// the caller knows best what the failure means for it (a NotFound from the
// store may be wrapped as Invalid by a handler that was given a bad reference).
// Context cancellation and deadlines without a kind are Transient: the work was
// cut short, not wrong. Everything else, including nil, is Internal.
func Of(err error) Kind {
	var ke *kindError
	if errors.As(err, &ke) {
		return ke.kind
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return Transient
	}
	return Internal
}

// HTTPStatus returns the response status for kind k; unknown kinds are 500.
func HTTPStatus(k Kind) int {
	switch k {
	case Invalid:
		return http.StatusBadRequest
	case NotFound:
		return http.StatusNotFound
	case Conflict:
		return http.StatusConflict
	case Transient:
		return http.StatusServiceUnavailable
	case Unauthorized:
		return http.StatusUnauthorized
	default:
		return http.StatusInternalServerError
	}
}

// FromHTTPStatus is HTTPStatus read backwards, for answers of other
// services: 429 and 5xx other than 500 are Transient, 403 Unauthorized.
func FromHTTPStatus(status int) Kind {
	switch {
	case status == http.StatusNotFound:
		return NotFound
	case status == http.StatusConflict:
		return Conflict
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return Unauthorized
	case status == http.StatusTooManyRequests, status >= 500 && status != http.StatusInternalServerError:
		return Transient
	case status >= 400 && status < 500:
		return Invalid
	default:
		return Internal
	}
}

// PubSubAnswer is the "status" a Dapr subscriber returns for a message.
type PubSubAnswer string

const (
	// Success acknowledges the message.
	Success PubSubAnswer = "SUCCESS"
	// Retry asks Dapr to deliver the message again later.
	Retry PubSubAnswer = "RETRY"
	// Drop sends the message to the dead-letter topic (if configured) instead of retrying.
	Drop PubSubAnswer = "DROP"
)

// PubSubStatus decides whether a failed message is worth delivering again.
// Transient and Internal errors are retried: Internal because a bug fixed by a
// redeploy should not lose messages. The other kinds describe the message
// itself, so retrying would fail forever; they are dropped to the dead letter.
func PubSubStatus(err error) PubSubAnswer {
	if err == nil {
		return Success
	}
	switch Of(err) {
	case Invalid, NotFound, Conflict, Unauthorized:
		return Drop
	default:
		return Retry
	}
}
