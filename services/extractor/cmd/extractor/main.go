// Command extractor reads catalog metadata from source databases into Arrow batches.
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
		Name:           "extractor",
		DefaultAppPort: 6002,
		AnswerProbes:   true,
	}, os.Args[1:], os.LookupEnv)
}
