package httpserver

import (
	"strings"

	"github.com/gofiber/fiber/v2"
)

// canonicalPath refuses a request whose path is not in canonical form: dot
// segments, empty segments, backslashes, semicolons, control characters, or
// percent-encoded '/', '\', '.', '%' or control bytes. Daprd before 1.16.14
// evaluated service-invocation access control on one normalisation of the
// method path while the app received another (GO-2026-5242, CVE-2026-41491):
// an app that only ever serves canonical paths is out of reach of that
// mismatch, whatever the sidecar's version. No route of ours needs any of
// these forms.
func canonicalPath(c *fiber.Ctx) error {
	if reason := nonCanonical(string(c.Request().URI().PathOriginal())); reason != "" {
		return fiber.NewError(fiber.StatusBadRequest, "request path is not canonical ("+reason+"); send the path without dot segments, empty segments or encoded separators")
	}
	return c.Next()
}

// nonCanonical says why p (a raw request path, without the query) is not
// canonical, or "" if it is.
func nonCanonical(p string) string {
	if !strings.HasPrefix(p, "/") {
		return "does not start with /"
	}
	for i := 0; i < len(p); i++ {
		switch b := p[i]; {
		case b < 0x20 || b == 0x7f:
			return "control character"
		case b == '\\':
			return "backslash"
		case b == ';':
			return "semicolon"
		case b == '%':
			if i+2 >= len(p) {
				return "truncated percent-encoding"
			}
			switch strings.ToLower(p[i+1 : i+3]) {
			case "2f", "5c", "2e", "25", "3b":
				return "encoded separator"
			}
			if p[i+1] == '0' || p[i+1] == '1' || strings.EqualFold(p[i+1:i+3], "7f") {
				return "encoded control character"
			}
		}
	}
	for _, seg := range strings.Split(p[1:], "/") {
		switch seg {
		case ".", "..":
			return "dot segment"
		case "":
			if p != "/" {
				// "/a//b" and a trailing "/a/" alike: routes never end in /.
				return "empty segment"
			}
		}
	}
	return ""
}
