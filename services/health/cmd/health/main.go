// Command health aggregates the readiness of every app and sidecar of the
// agent, proves the broker works end to end and, with a control plane
// configured, sends heartbeats and uploads job logs to it.
package main

import (
	"github.com/secure-agent/secure-agent/libs/bootstrap"
	"github.com/secure-agent/secure-agent/services/health/internal/service"
)

func main() { bootstrap.Main(service.Spec()) }
