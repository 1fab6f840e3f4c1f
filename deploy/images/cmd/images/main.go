// Command images builds the project's OCI images from static binaries (no
// Docker daemon): one per service, one for agentctl, one for the patched
// Dapr runtime. It writes an OCI image layout, attaches a signature, an SBOM
// and a provenance statement to each image when given a signing key, and
// pushes everything when given a registry. See docs/supply-chain.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}
