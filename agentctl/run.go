package main

import (
	"context"
	"io"

	"github.com/secure-agent/secure-agent/agentctl/internal/cli"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
	"github.com/secure-agent/secure-agent/services/extractor/connector/mysql"
	"github.com/secure-agent/secure-agent/services/extractor/connector/postgres"
	"github.com/secure-agent/secure-agent/services/extractor/connector/sqlite"
)

// version is stamped by the Makefile (-X main.version=...).
var version = "dev"

func run(ctx context.Context, args []string, env cli.LookupEnv, stdin io.Reader, stdout, stderr io.Writer) int {
	return cli.Run(ctx, args, cli.Env{
		Registry:  registry(),
		Version:   version,
		LookupEnv: env,
		Stdin:     stdin,
		Stdout:    stdout,
		Stderr:    stderr,
	})
}

// registry is every connector agentctl can run in-process.
func registry() connector.Registry {
	return connector.Registry{
		"postgres": postgres.Open,
		"mysql":    mysql.Open,
		"sqlite":   sqlite.Open,
	}
}
