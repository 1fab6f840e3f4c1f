package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// probeBrokerCmd asks the health service for one broker round trip: health
// publishes a probe and every app answers it. With --via-sidecar it goes
// through this pod's own Dapr sidecar (service invocation over mTLS), which
// is how the chart's `helm test` pod runs it.
type probeBrokerCmd struct {
	rawURL     string
	tokenFile  string
	viaSidecar bool
	appID      string
	wait       time.Duration
	shutdown   bool
	jsonOut    bool

	client     *orchestrator
	sidecar    string
	sidecarTok string
}

// brokerProbeReport is health's answer to POST /v1/diag/broker-probe.
type brokerProbeReport struct {
	ProbeID string `json:"probe_id"`
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
	Apps    map[string]struct {
		Acked       bool  `json:"acked"`
		RoundTripMs int64 `json:"round_trip_ms,omitempty"`
	} `json:"apps"`
}

const brokerProbePath = "/v1/diag/broker-probe"

func (c *probeBrokerCmd) name() string { return "probe-broker" }
func (c *probeBrokerCmd) synopsis() string {
	return "one broker round trip through every app, asked of the health service (what `helm test` runs)"
}

func (c *probeBrokerCmd) define(fs *flag.FlagSet) {
	fs.StringVar(&c.rawURL, "health", "", "health service `URL` (default $"+healthEnv+", else "+defaultHealth+", the local stack)")
	fs.StringVar(&c.tokenFile, "token-file", "", "`FILE` holding the API token (default $"+tokenEnv+
		", else DATA_DIR/"+tokenFileName+" of the local stack)")
	fs.BoolVar(&c.viaSidecar, "via-sidecar", false, "call health through this pod's Dapr sidecar (127.0.0.1:$DAPR_HTTP_PORT, "+
		"token $DAPR_API_TOKEN if set) instead of --health")
	fs.StringVar(&c.appID, "app-id", "health", "--via-sidecar: Dapr app id of the health service")
	fs.DurationVar(&c.wait, "wait", time.Minute, "keep trying this long while the sidecar or the apps are still starting")
	fs.BoolVar(&c.shutdown, "shutdown-sidecar", false, "--via-sidecar: stop the sidecar at the end, so a Kubernetes test pod completes")
	fs.BoolVar(&c.jsonOut, "json", false, "print health's report as JSON")
}

func (c *probeBrokerCmd) validate(env *Env) []string {
	var problems []string
	if c.wait <= 0 {
		problems = append(problems, "--wait must be positive, e.g. 2m")
	}
	if !c.viaSidecar {
		if c.shutdown {
			problems = append(problems, "--shutdown-sidecar needs --via-sidecar")
		}
		client, more := healthClient(env, c.rawURL, c.tokenFile)
		c.client = client
		return append(problems, more...)
	}
	if c.rawURL != "" || c.tokenFile != "" {
		problems = append(problems, "--health and --token-file are for direct calls: drop them with --via-sidecar")
	}
	if c.appID == "" || strings.ContainsAny(c.appID, "/?#% ") {
		problems = append(problems, fmt.Sprintf("--app-id %q is not a Dapr app id", c.appID))
	}
	port := "3500"
	if p, ok := env.LookupEnv("DAPR_HTTP_PORT"); ok && strings.TrimSpace(p) != "" {
		port = strings.TrimSpace(p)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		problems = append(problems, fmt.Sprintf("DAPR_HTTP_PORT %q is not a port", port))
	}
	c.sidecar = "http://127.0.0.1:" + port
	c.sidecarTok, _ = env.LookupEnv("DAPR_API_TOKEN")
	c.client = newOrchestrator(c.sidecar + "/v1.0/invoke/" + url.PathEscape(c.appID) + "/method")
	c.client.service = "health (through the Dapr sidecar)"
	return problems
}

func (c *probeBrokerCmd) run(ctx context.Context, env *Env) (err error) {
	ctx, cancel := context.WithTimeout(ctx, c.wait)
	defer cancel()
	if c.viaSidecar && c.shutdown {
		defer func() {
			// A fresh context: the sidecar must stop even when the wait ran out.
			sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer scancel()
			if serr := c.sidecarCall(sctx, http.MethodPost, "/v1.0/shutdown"); serr != nil {
				fmt.Fprintf(env.Stderr, "could not stop the sidecar: %v\n", serr)
				err = errors.Join(err, serr)
			}
		}()
	}
	if c.viaSidecar {
		if err := c.waitForSidecar(ctx, env); err != nil {
			return err
		}
	}
	var header map[string]string
	if c.sidecarTok != "" {
		header = map[string]string{"dapr-api-token": c.sidecarTok}
	}
	var last error
	for attempt := 1; ; attempt++ {
		var r brokerProbeReport
		err := c.client.doWith(ctx, header, http.MethodPost, brokerProbePath, nil, "", &r, http.StatusOK, http.StatusServiceUnavailable)
		switch {
		case err == nil && r.OK:
			return c.print(env, r)
		case err == nil:
			last = fmt.Errorf("the broker round trip failed: %s", r.summary())
		default:
			last = err
		}
		fmt.Fprintf(env.Stderr, "attempt %d: %v\n", attempt, last)
		select {
		case <-ctx.Done():
			return fmt.Errorf("no successful broker round trip within --wait %s; last: %w", c.wait, last)
		case <-time.After(2 * time.Second):
		}
	}
}

// waitForSidecar waits until the sidecar is up and its outbound side ready.
func (c *probeBrokerCmd) waitForSidecar(ctx context.Context, env *Env) error {
	var last error
	for {
		if last = c.sidecarCall(ctx, http.MethodGet, "/v1.0/healthz/outbound"); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the Dapr sidecar at %s did not become ready within --wait %s (is the pod annotated dapr.io/enabled, and DAPR_HTTP_PORT right?): %w", c.sidecar, c.wait, last)
		case <-time.After(time.Second):
		}
		fmt.Fprintf(env.Stderr, "waiting for the Dapr sidecar: %v\n", last)
	}
}

func (c *probeBrokerCmd) sidecarCall(ctx context.Context, method, path string) error {
	req, err := http.NewRequestWithContext(ctx, method, c.sidecar+path, nil)
	if err != nil {
		return err
	}
	if c.sidecarTok != "" {
		req.Header.Set("dapr-api-token", c.sidecarTok)
	}
	resp, err := c.client.http.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s answered %s", method, path, resp.Status)
	}
	return nil
}

func (c *probeBrokerCmd) print(env *Env, r brokerProbeReport) error {
	if c.jsonOut {
		return writeJSONLine(env.Stdout, r)
	}
	fmt.Fprintf(env.Stdout, "broker round trip ok (probe %s): %s\n", oneLine(r.ProbeID), r.summary())
	return nil
}

// summary lists each app's answer, e.g. "extractor 12ms, publisher no answer".
func (r brokerProbeReport) summary() string {
	apps := make([]string, 0, len(r.Apps))
	for a := range r.Apps {
		apps = append(apps, a)
	}
	sort.Strings(apps)
	parts := make([]string, 0, len(apps)+1)
	for _, a := range apps {
		if res := r.Apps[a]; res.Acked {
			parts = append(parts, fmt.Sprintf("%s %dms", oneLine(a), res.RoundTripMs))
		} else {
			parts = append(parts, oneLine(a)+" no answer")
		}
	}
	if r.Error != "" {
		parts = append(parts, "error: "+clip(oneLine(r.Error), 200))
	}
	if len(parts) == 0 {
		return "no app answered"
	}
	return strings.Join(parts, ", ")
}
