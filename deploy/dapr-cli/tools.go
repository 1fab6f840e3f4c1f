//go:build tools

// Package tools pins the Dapr CLI (github.com/dapr/cli) that build.sh builds
// into bin/dapr; runfile_test.go reads deploy/local/dapr.yaml with its parser.
package tools

import _ "github.com/dapr/cli"
