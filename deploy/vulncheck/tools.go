//go:build tools

// Package tools pins govulncheck (golang.org/x/vuln) for build.sh.
package tools

import _ "golang.org/x/vuln/cmd/govulncheck"
