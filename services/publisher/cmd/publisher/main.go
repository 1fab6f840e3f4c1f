// Command publisher verifies, compacts and uploads batches and writes each job's manifest.
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
		Name:           "publisher",
		DefaultAppPort: 6003,
		AnswerProbes:   true,
	}, os.Args[1:], os.LookupEnv)
}
