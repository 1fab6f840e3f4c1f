package controlplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/secure-agent/secure-agent/libs/errkind"
)

// StatusError is an error answer of the control plane; reach it with
// errors.As. It never holds the request's token.
type StatusError struct {
	Operation string
	Status    int
	Code      string
	Message   string
	RequestID string
	// KnownSize is set on a witness's 409: the size it last cosigned.
	KnownSize *uint64
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("control plane answered %d to %s (code %q, request id %q): %s",
		e.Status, e.Operation, e.Code, e.RequestID, e.Message)
}

// statusError decodes the protocol's Error body (best effort: proxies and
// load balancers answer with other bodies) and gives the error its kind.
func statusError(op string, status int, header http.Header, body []byte) error {
	se := &StatusError{Operation: op, Status: status}
	var e apiError
	if json.Unmarshal(body, &e) == nil {
		se.Code, se.Message, se.RequestID, se.KnownSize = e.Error.Code, e.Error.Message, e.Error.RequestID, e.Error.KnownSize
	}
	if se.Message == "" {
		se.Message = http.StatusText(status)
	}
	if se.RequestID == "" {
		se.RequestID = header.Get("X-Request-Id")
	}
	kind := errkind.FromHTTPStatus(status)
	hint := ""
	switch {
	case status >= 500 || status == http.StatusTooManyRequests:
		kind = errkind.Transient
		hint = "; retries exhausted, try again later"
	case status == http.StatusUnauthorized:
		hint = "; a fresh token was refused too: check the client id and secret in the secret store"
	case status == http.StatusForbidden:
		hint = "; the agent's client is not allowed this operation: check its grants in the control plane"
	}
	return errkind.Wrap(kind, se, "controlplane"+hint)
}

// classifyTransport decides what a failed round trip means: a refused host or
// an untrusted server will not get better by retrying; anything else on the
// wire (reset, EOF, timeout dialing) is worth another attempt.
func classifyTransport(ctx context.Context, err error) (kind errkind.Kind, msg string, retry bool) {
	var (
		certErr  *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invalid  x509.CertificateInvalidError
		recErr   tls.RecordHeaderError
		opErr    *net.OpError
		alertErr tls.AlertError
	)
	switch {
	case errors.Is(err, errEgressRefused):
		return errkind.Invalid, "egress refused", false
	case errors.Is(err, errRateLimitWait):
		return errkind.Transient, "waiting for the egress rate limit", false
	case ctx.Err() != nil:
		return errkind.Transient, "request cancelled", false
	case errors.Is(err, errPinMismatch):
		return errkind.Unauthorized, "TLS refused: the server's key is not pinned (check PinnedSPKISHA256 or a man-in-the-middle proxy)", false
	case errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &hostErr), errors.As(err, &invalid):
		return errkind.Unauthorized, "TLS refused: the server's certificate is not trusted (check RootCAs and the host name)", false
	case errors.As(err, &recErr):
		return errkind.Unauthorized, "TLS refused: the server did not answer with TLS", false
	case errors.As(err, &alertErr), errors.As(err, &opErr) && opErr.Op == "remote error":
		// The server aborted the handshake, typically because it offers no
		// TLS 1.2 or later, which the agent requires.
		return errkind.Unauthorized, "TLS handshake refused by the server (the agent requires TLS 1.2 or later)", false
	default:
		return errkind.Transient, "connection failed", true
	}
}
