// Command controlplane runs the reference control plane (e2e/controlplane)
// for local runs: HTTPS agent API and token endpoint, plus a plain-HTTP
// admin API on loopback to queue jobs and inject faults.
//
// The client secret is read from CONTROLPLANE_CLIENT_SECRET only and never
// printed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/secure-agent/secure-agent/e2e/controlplane"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "controlplane:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	fs := flag.NewFlagSet("controlplane", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8443", "HTTPS listen address")
	adminAddr := fs.String("admin-addr", "127.0.0.1:8444", "plain-HTTP admin listen address (loopback only)")
	clientID := fs.String("client-id", envOr(getenv, "CONTROLPLANE_CLIENT_ID", "secure-agent"), "accepted OAuth client id (env CONTROLPLANE_CLIENT_ID)")
	caFile := fs.String("ca-file", filepath.Join(os.TempDir(), "secure-agent-controlplane-ca.pem"), "where to write the CA certificate PEM")
	tokenLifetime := fs.Duration("token-lifetime", 5*time.Minute, "access token lifetime")
	leaseDuration := fs.Duration("lease-duration", time.Minute, "work lease duration")
	tls11 := fs.Bool("tls11-only", false, "serve TLS 1.0-1.1 only (negative tests)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	secret := getenv("CONTROLPLANE_CLIENT_SECRET")
	if secret == "" {
		return errors.New("set CONTROLPLANE_CLIENT_SECRET to the client secret the agent will use")
	}

	srv, err := controlplane.Start(controlplane.Options{
		Addr: *addr, AdminAddr: *adminAddr, ClientID: *clientID, ClientSecret: secret,
		TokenLifetime: *tokenLifetime, LeaseDuration: *leaseDuration, TLS11Only: *tls11,
	})
	if err != nil {
		return err
	}
	if err := os.WriteFile(*caFile, srv.CAPEM(), 0o644); err != nil {
		_ = srv.Close()
		return fmt.Errorf("write the CA certificate to %s: %w", *caFile, err)
	}
	fmt.Fprintf(out, "base URL:  %s\n", srv.APIURL())
	fmt.Fprintf(out, "token URL: %s\n", srv.TokenURL())
	fmt.Fprintf(out, "client id: %s\n", *clientID)
	fmt.Fprintf(out, "CA file:   %s\n", *caFile)
	fmt.Fprintf(out, "admin URL: %s\n", srv.AdminURL())

	<-ctx.Done()
	return srv.Close()
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}
