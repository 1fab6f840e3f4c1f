// Command orchestrator accepts jobs and runs each one as a durable Dapr Workflow.
package main

import (
	"context"

	"github.com/secure-agent/secure-agent/libs/bootstrap"
	"github.com/secure-agent/secure-agent/services/orchestrator/internal/service"
)

func main() {
	var cfg service.Config
	bootstrap.Main(bootstrap.Spec{
		Name:           "orchestrator",
		DefaultAppPort: 6001,
		AnswerProbes:   true,
		// agentctl calls the job API directly, with the job API token.
		ClientRoutes: []string{"/v1/jobs", "/v1/schedules"},
		Settings:     service.Settings(&cfg),
		Wire: func(ctx context.Context, d bootstrap.Deps) (func(context.Context) error, error) {
			return service.Wire(ctx, d, cfg, service.Collaborators{})
		},
	})
}
