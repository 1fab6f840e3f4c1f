// Command devstack runs the whole secure-agent stack on one machine: NATS
// JetStream (or Redis), Dapr sentry, placement and scheduler, and the four
// services, each with its own daprd. `make run` calls it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
	"github.com/secure-agent/secure-agent/libs/config"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.LookupEnv, os.Stdout); err != nil {
		if errors.Is(err, flagHelp) {
			return
		}
		var ce *config.Error
		if errors.As(err, &ce) {
			fmt.Fprintln(os.Stderr, err) // already names the program
		} else {
			fmt.Fprintln(os.Stderr, "devstack:", err)
		}
		os.Exit(1)
	}
}

var flagHelp = errors.New("help")

func run(ctx context.Context, args []string, env config.LookupEnv, out io.Writer) error {
	var o stack.Options
	replicas := map[string]*int{}
	var quiet, demo, runOnce bool
	var ackWait time.Duration
	var streamMax string
	l := config.New("devstack")
	l.String(&o.Root, "SA_ROOT", ".", "repository root (holds components/ and bin/)")
	l.String(&o.DataDir, "DATA_DIR", "./data", "where the stack keeps everything it writes")
	l.Enum(&o.Profile, "PROFILE", "local", stack.Profiles, "component profile: local (NATS JetStream + SQLite, nothing to install) or redis")
	l.Int(&o.PortBase, "SA_PORT_BASE", 17000, fmt.Sprintf("first of the %d ports the stack uses; move it to run a second stack", stack.PortSpan))
	l.HostPort(&o.RedisHost, "SA_REDIS_HOST", "127.0.0.1:6379", "Redis address for PROFILE=redis")
	l.String(&o.RedisPassword, "SA_REDIS_PASSWORD", "", "Redis password for PROFILE=redis", config.Secret())
	l.Int(&o.RedisDB, "SA_REDIS_DB", 0, "Redis database number for PROFILE=redis")
	l.Enum(&o.LogLevel, "LOG_LEVEL", "info", []string{"debug", "info", "warn", "error"}, "log level of apps and sidecars")
	l.Duration(&o.StartTimeout, "START_TIMEOUT", 2*time.Minute, "bound on start-up; past it the launcher stops everything and says what was not ready")
	l.Bool(&quiet, "QUIET", false, "do not echo process output (it is still written to DATA_DIR/logs)")
	for _, a := range stack.Apps {
		replicas[a] = new(int)
		l.Int(replicas[a], stack.ReplicasVar(a), 1, fmt.Sprintf("%s processes (1 to %d), each with its own sidecar; the second, %s, has the same app id and shares %s's messages "+
			"(competing consumers); each gets its process name as SA_INSTANCE", a, stack.MaxReplicas, stack.InstanceName(a, 2), a))
	}
	l.Duration(&ackWait, "SA_ACK_WAIT", 60*time.Second, "how long the broker waits for a subscriber's answer before redelivering")
	l.String(&streamMax, "SA_STREAM_MAX_BYTES", "256MiB", "size limit of each of the 8 JetStream streams (PROFILE=local), e.g. 64MiB or 1GiB; the launcher checks DATA_DIR has room for all of them before it starts")
	l.Bool(&demo, "DEMO", true, "run the demo job on the bundled SQLite database once the stack is up")
	l.Enum(&o.ControlPlane, "CONTROLPLANE", "", stack.ControlPlanes, "local: also run the reference control plane; the demo job is then queued there and flows through the agent and back")
	l.String(&o.Images, "SA_IMAGES", "", "run the Dapr runtime and the four apps from these unpacked images (one root filesystem per image), "+
		"each confined by bin/sandbox as a hardened pod would be; needs root (the hardened-images test uses it)")
	l.String(&o.OTLPEndpoint, "OTEL_EXPORTER_OTLP_ENDPOINT", "", "host:port of an OTLP gRPC receiver (no TLS) for the spans of every app and sidecar; empty exports none")
	l.Bool(&runOnce, "RUN_ONCE", false, "stop the stack after the demo job and exit 0 if it succeeded, 1 if not")
	l.SetOutput(out)
	if err := l.Load(args, env); errors.Is(err, config.ErrHelp) {
		return flagHelp
	}
	_, perr := stack.PlanPorts(o.PortBase)
	l.Check(perr == nil, "SA_PORT_BASE", fmt.Sprint(perr))
	l.Check(o.RedisDB >= 0 && o.RedisDB <= 15, "SA_REDIS_DB", fmt.Sprintf("invalid value %d: must be 0 to 15", o.RedisDB))
	o.Replicas = map[string]int{}
	for _, a := range stack.Apps {
		n := *replicas[a]
		l.Check(n >= 1 && n <= stack.MaxReplicas, stack.ReplicasVar(a), fmt.Sprintf("invalid value %d: must be 1 to %d", n, stack.MaxReplicas))
		o.Replicas[a] = n
	}
	l.Check(ackWait >= time.Second, "SA_ACK_WAIT", fmt.Sprintf("invalid value %s: must be at least 1s", ackWait))
	l.Check(demo || !runOnce, "RUN_ONCE", "RUN_ONCE=1 runs the demo job and exits; it needs DEMO=1")
	o.AckWait = ackWait
	var serr error
	o.StreamMaxBytes, serr = stack.ParseBytes(streamMax)
	l.Check(serr == nil, "SA_STREAM_MAX_BYTES", fmt.Sprint(serr))
	l.Check(serr != nil || o.StreamMaxBytes >= 1<<20, "SA_STREAM_MAX_BYTES", fmt.Sprintf("invalid value %q: must be at least 1MiB", streamMax))
	if err := l.Err(); err != nil {
		return err
	}
	o.Progress = out
	if !quiet {
		o.Console = out
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	started := time.Now()
	s, err := stack.Start(ctx, o)
	if err != nil {
		return err
	}
	printSummary(ctx, out, s, o, time.Since(started))
	var waitErr error
	if demo {
		// The supervisor runs while the demo job does, so a process that
		// dies mid-job is restarted just as it would be without the demo.
		wctx, cancelWait := context.WithCancel(ctx)
		waited := make(chan error, 1)
		go func() { waited <- s.Wait(wctx) }()
		var jobErr error
		if o.ControlPlane == stack.ControlPlaneLocal {
			jobErr = demoViaControlPlane(ctx, out, s, o.Root)
		} else {
			jobErr = demoJob(ctx, out, s, o.Root)
		}
		if ctx.Err() != nil {
			// Ctrl-C during the demo: the user stopped it, not a failure.
			jobErr = nil
		}
		if jobErr != nil && !runOnce {
			fmt.Fprintln(out, "devstack:", jobErr)
		}
		if runOnce || ctx.Err() != nil {
			cancelWait()
			waitErr = <-waited
			stop()
			fmt.Fprintln(out, "==> stopping the stack")
			if stopErr := s.Stop(); stopErr != nil {
				return errors.Join(jobErr, waitErr, stopErr)
			}
			fmt.Fprintln(out, "==> stopped; nothing left running")
			return errors.Join(jobErr, waitErr)
		}
		if o.ControlPlane == stack.ControlPlaneLocal {
			fmt.Fprintf(out, "The stack keeps running: queue your own job (a JSON spec) with `curl -s -XPOST %s/jobs -d @spec.json`, follow it with `curl -s %s/jobs/<id>`. Press Ctrl-C to stop.\n",
				s.ControlPlaneAdminURL(), s.ControlPlaneAdminURL())
		} else {
			fmt.Fprintln(out, "The stack keeps running: submit your own job with `bin/agentctl run SPEC --wait`. Press Ctrl-C to stop.")
		}
		waitErr = <-waited
		cancelWait()
	} else {
		waitErr = s.Wait(ctx)
	}
	stop()
	fmt.Fprintln(out, "==> stopping the stack")
	stopErr := s.Stop()
	if waitErr != nil {
		return errors.Join(waitErr, stopErr)
	}
	if stopErr != nil {
		return stopErr
	}
	fmt.Fprintln(out, "==> stopped; nothing left running")
	return nil
}

func printSummary(ctx context.Context, out io.Writer, s *stack.Stack, o stack.Options, took time.Duration) {
	fmt.Fprintf(out, "\nsecure-agent stack is up in %s (profile %s, data in %s)\n\n", took.Round(100*time.Millisecond), o.Profile, s.DataDir())
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tAPP PORT\tSIDECAR HTTP\tSIDECAR gRPC\tSIDECAR METRICS\tSTATUS\tCOMPONENTS")
	for _, a := range s.Instances() {
		ap := s.Ports().App[a]
		status := "healthy"
		h, err := s.Health(ctx, a)
		if err != nil {
			status = "NOT HEALTHY: " + err.Error()
		}
		sort.Strings(h.Components)
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\n", a, ap.App, ap.DaprHTTP, ap.DaprGRPC, ap.DaprMetrics, status, strings.Join(h.Components, ","))
	}
	_ = tw.Flush()
	p := s.Ports()
	fmt.Fprintf(out, "\ncontrol plane: sentry :%d, placement :%d, scheduler :%d", p.SentryGRPC, p.PlacementGRPC, p.SchedulerGRPC)
	if o.Profile == "local" {
		fmt.Fprintf(out, ", NATS JetStream %s", s.NATSURL())
	}
	if o.ControlPlane == stack.ControlPlaneLocal {
		fmt.Fprintf(out, "\nreference control plane: %s (admin: curl -s %s/jobs)", s.ControlPlaneURL(), s.ControlPlaneAdminURL())
	}
	fmt.Fprintf(out, "\nstatus:  curl -s -H \"Authorization: Bearer $(cat %s)\" %s/v1/status\n", stack.APITokenFile(s.DataDir()), s.AppURL("health"))
	fmt.Fprintf(out, "jobs:    bin/agentctl list   (the job API token is %s; agentctl reads it from there)\n", stack.APITokenFile(s.DataDir()))
	fmt.Fprintf(out, "logs:    %s/logs/<process>.log\n", s.DataDir())
	printMetrics(out, s, o)
	fmt.Fprintln(out, "Press Ctrl-C to stop.")
}

// printMetrics says where every process's metrics are and how to point a
// Prometheus (or an OpenTelemetry Collector) at them.
func printMetrics(out io.Writer, s *stack.Stack, o stack.Options) {
	fmt.Fprintln(out, "metrics: every process serves Prometheus text on /metrics (no token):")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, t := range s.MetricsTargets(s.Instances()) {
		fmt.Fprintf(tw, "           %s\t%s\t%s\n", t.Process, t.Container, t.URL)
	}
	_ = tw.Flush()
	fmt.Fprintf(out, "         scrape them all: prometheus --config.file=%s   (dashboards and alert rules: deploy/observability, docs/observability.md)\n",
		s.PrometheusConfigFile())
	if o.OTLPEndpoint != "" {
		fmt.Fprintf(out, "traces:  every app and sidecar sends spans to %s (OTLP gRPC)\n", o.OTLPEndpoint)
	} else {
		fmt.Fprintln(out, "traces:  not exported; set OTEL_EXPORTER_OTLP_ENDPOINT=host:port (an OTLP gRPC receiver, e.g. a Jaeger or an OpenTelemetry Collector) to send every app's and sidecar's spans there")
	}
}
