// Command demodb writes the bundled demo SQLite database (a retail schema
// with seed data) that `make run` extracts out of the box:
//
//	demodb OUT.db
//
// The file is built from scratch and moved into place, replacing OUT.db.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/secure-agent/secure-agent/services/extractor/connector/sqlite/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demodb:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) != 1 || args[0] == "" || args[0] == "-h" || args[0] == "--help" {
		return errors.New("usage: demodb OUT.db (writes the demo SQLite database to OUT.db, replacing it)")
	}
	if err := demo.GenerateContext(ctx, args[0]); err != nil {
		return err
	}
	fmt.Println("wrote", args[0])
	return nil
}
