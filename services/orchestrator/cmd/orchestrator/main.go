// Command orchestrator accepts jobs and runs each one as a durable Dapr Workflow.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/secure-agent/secure-agent/libs/bootstrap"
)

func main() {
	if err := run(context.Background()); err != nil {
		if errors.Is(err, bootstrap.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return bootstrap.Run(ctx, bootstrap.Spec{
		Name:           "orchestrator",
		DefaultAppPort: 6001,
		AnswerProbes:   true,
	}, os.Args[1:], os.LookupEnv)
}
