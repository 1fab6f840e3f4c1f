package httpserver

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// AppTokenHeader carries the app token daprd sends with every request it
// makes to its app (daprd's APP_API_TOKEN): pub/sub deliveries, service
// invocation, /dapr/subscribe and /dapr/config.
const AppTokenHeader = "dapr-api-token"

// Auth says who may call the server. With no token set every request is
// served (a test, or a sidecar started without APP_API_TOKEN; bootstrap
// warns about it); a token once set is always enforced.
type Auth struct {
	// AppToken is what the app's own sidecar sends in dapr-api-token. Set, it
	// is required on every route except the open ones (probes, metrics) and
	// the client routes.
	AppToken string
	// ClientRoutes are path prefixes that clients other than the sidecar
	// call directly (the orchestrator's job API for agentctl). They are
	// served to the sidecar (valid app token) and to a client presenting
	// ClientToken as "Authorization: Bearer <token>".
	ClientRoutes []string
	// ClientToken is the bearer token of ClientRoutes; empty, only the
	// sidecar may call them (or anyone, if AppToken is empty too).
	ClientToken string
	// ClientHint ends the 401 of a client route: where the token is and
	// how to pass it.
	ClientHint string
}

// openPaths are served to anyone: the probes, which daprd's app health
// check calls without a token (and kubelet, in Kubernetes), and the
// metrics, which Prometheus scrapes from the app directly and which hold
// counts and durations, never a job's data or a secret.
var openPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

const fromSidecarKey = "httpserver.fromSidecar"

// FromSidecar reports whether the request came through the app's sidecar:
// it carried the valid app token.
func FromSidecar(c *fiber.Ctx) bool {
	v, _ := c.Locals(fromSidecarKey).(bool)
	return v
}

func (a Auth) clientRoute(path string) bool {
	for _, p := range a.ClientRoutes {
		if path == p || strings.HasPrefix(path, strings.TrimSuffix(p, "/")+"/") {
			return true
		}
	}
	return false
}

func (a Auth) middleware(c *fiber.Ctx) error {
	path := c.Path()
	if openPaths[path] {
		return c.Next()
	}
	sidecar := a.AppToken != "" && tokenEqual(c.Get(AppTokenHeader), a.AppToken)
	c.Locals(fromSidecarKey, sidecar)
	if a.clientRoute(path) {
		if sidecar || (a.AppToken == "" && a.ClientToken == "") {
			return c.Next()
		}
		if a.ClientToken != "" {
			if tok, ok := bearer(c.Get(fiber.HeaderAuthorization)); ok && tokenEqual(tok, a.ClientToken) {
				return c.Next()
			}
		}
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="secure-agent"`)
		msg := "this API needs a token: send it as Authorization: Bearer <token>"
		if c.Get(fiber.HeaderAuthorization) != "" {
			msg = "the token sent in Authorization is not this service's token: send the current one as Authorization: Bearer <token>"
		}
		if a.ClientHint != "" {
			msg += "; " + a.ClientHint
		}
		return fiber.NewError(fiber.StatusUnauthorized, msg)
	}
	if a.AppToken == "" || sidecar {
		return c.Next()
	}
	return fiber.NewError(fiber.StatusUnauthorized, "only this app's Dapr sidecar may call "+path+
		": requests must carry the sidecar's app token in dapr-api-token (daprd's APP_API_TOKEN, the app's APP_API_TOKEN); "+
		"call the app through its sidecar (service invocation) instead")
}

// bearer returns the credential of an "Authorization: Bearer x" header.
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// tokenEqual compares in constant time; hashing first hides the length too.
func tokenEqual(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
