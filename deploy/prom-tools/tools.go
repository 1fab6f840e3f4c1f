//go:build tools

// Package tools pins the Prometheus server and promtool
// (github.com/prometheus/prometheus) for ./build.sh.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
