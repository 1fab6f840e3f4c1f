package grafana

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/daprtest"
)

// daprMetricsFile lists the metric families of Dapr's sidecar, with their
// type and labels, as a real daprd exports them (TestDaprMetricsScrape
// writes it). The dashboards may only use these names.
const daprMetricsFile = "../testdata/dapr-metrics.txt"

// afterTraffic marks a family the scrape test cannot produce reliably (its
// traffic needs more than one sidecar: workflows need placement and
// scheduler, gRPC calls an SDK client, invocations another app, init
// failures a broken component; or its latencies are under a millisecond
// here); its name and labels come from Dapr's source (fromSource), checked
// against the scrape whenever it does appear. The live e2e test proves them
// against a running stack.
const afterTraffic = "(seen only after traffic)"

type daprFamily struct {
	name, typ string
	labels    []string
	// source: not in the scrape; taken from fromSource.
	source bool
}

// fromSource: families the scrape cannot produce, as dapr/dapr v1.16.5
// declares them (pkg/diagnostics: the view name with "/" and "." as "_"
// under the "dapr" namespace; a Count view is a counter, a distribution a
// histogram, a LastValue a gauge; labels are the view's tag keys).
var fromSource = []daprFamily{
	// workflow_monitoring.go
	{name: "dapr_runtime_workflow_operation_count", typ: "counter", labels: []string{"app_id", "namespace", "operation", "status"}},
	{name: "dapr_runtime_workflow_operation_latency", typ: "histogram", labels: []string{"app_id", "namespace", "operation", "status"}},
	{name: "dapr_runtime_workflow_execution_count", typ: "counter", labels: []string{"app_id", "namespace", "status", "workflow_name"}},
	{name: "dapr_runtime_workflow_execution_latency", typ: "histogram", labels: []string{"app_id", "namespace", "status", "workflow_name"}},
	{name: "dapr_runtime_workflow_scheduling_latency", typ: "histogram", labels: []string{"app_id", "namespace", "workflow_name"}},
	{name: "dapr_runtime_workflow_activity_operation_count", typ: "counter", labels: []string{"activity_name", "app_id", "namespace", "status"}},
	{name: "dapr_runtime_workflow_activity_operation_latency", typ: "histogram", labels: []string{"activity_name", "app_id", "namespace", "status"}},
	{name: "dapr_runtime_workflow_activity_execution_count", typ: "counter", labels: []string{"activity_name", "app_id", "namespace", "status"}},
	{name: "dapr_runtime_workflow_activity_execution_latency", typ: "histogram", labels: []string{"activity_name", "app_id", "namespace", "status"}},
	// grpc_monitoring.go: the apps call their sidecar over gRPC (go-sdk).
	{name: "dapr_grpc_io_server_completed_rpcs", typ: "counter", labels: []string{"app_id", "grpc_server_method", "grpc_server_status"}},
	{name: "dapr_grpc_io_server_server_latency", typ: "histogram", labels: []string{"app_id", "grpc_server_method", "grpc_server_status"}},
	// component_monitoring.go: latencies are whole milliseconds
	// (ElapsedSince truncates) and recorded only when above 0, so an
	// in-memory component's calls never show up.
	{name: "dapr_component_pubsub_egress_latencies", typ: "histogram", labels: []string{"app_id", "component", "namespace", "success", "topic"}},
	{name: "dapr_component_output_binding_latencies", typ: "histogram", labels: []string{"app_id", "component", "namespace", "operation", "success"}},
	{name: "dapr_component_state_latencies", typ: "histogram", labels: []string{"app_id", "component", "namespace", "operation", "success"}},
	{name: "dapr_component_secret_latencies", typ: "histogram", labels: []string{"app_id", "component", "namespace", "operation", "success"}},
	// service_monitoring.go: invoking its own app id records nothing.
	{name: "dapr_runtime_service_invocation_req_sent_total", typ: "counter", labels: []string{"app_id", "dst_app_id", "type"}},
	{name: "dapr_runtime_service_invocation_req_recv_total", typ: "counter", labels: []string{"app_id", "src_app_id"}},
	{name: "dapr_runtime_service_invocation_res_sent_total", typ: "counter", labels: []string{"app_id", "dst_app_id", "status"}},
	{name: "dapr_runtime_service_invocation_res_recv_total", typ: "counter", labels: []string{"app_id", "src_app_id", "status", "type"}},
	{name: "dapr_runtime_service_invocation_res_recv_latency_ms", typ: "histogram", labels: []string{"app_id", "src_app_id", "status"}},
	{name: "dapr_runtime_component_init_fail_total", typ: "counter", labels: []string{"app_id", "component", "componentName", "reason"}},
	// resiliency_monitoring.go
	{name: "dapr_resiliency_activations_total", typ: "counter", labels: []string{"app_id", "flow_direction", "name", "namespace", "policy", "status", "target"}},
	{name: "dapr_resiliency_cb_state", typ: "gauge", labels: []string{"app_id", "flow_direction", "name", "namespace", "policy", "status", "target"}},
}

// loadDaprFamilies reads daprMetricsFile: "name type label,label [marker]".
func loadDaprFamilies(path string) (map[string]daprFamily, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]daprFamily{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		marked := strings.HasSuffix(line, afterTraffic)
		fields := strings.Fields(strings.TrimSuffix(line, afterTraffic))
		if len(fields) != 3 {
			return nil, fmt.Errorf("%s:%d: want `name type labels`, got %q", path, n, line)
		}
		fam := daprFamily{name: fields[0], typ: fields[1], source: marked}
		if fields[2] != "-" {
			fam.labels = strings.Split(fields[2], ",")
		}
		out[fam.name] = fam
	}
	return out, sc.Err()
}

func renderDaprFamilies(version string, fams []daprFamily) []byte {
	sort.Slice(fams, func(i, j int) bool { return fams[i].name < fams[j].name })
	var b bytes.Buffer
	fmt.Fprintf(&b, `# Metric families of Dapr's sidecar (daprd %s as deploy/dapr-runtime builds it),
# as Prometheus scrapes them, without the labels Prometheus adds (app,
# container, instance, job, ...). Histograms are named without _bucket,
# _sum and _count. Format: name type labels ("-": none), then %q when
# the family comes from Dapr's source because the scrape test cannot
# produce it reliably (the live e2e test sees it).
# Written by TestDaprMetricsScrape: "GOWORK=off go test ./grafana -run TestDaprMetricsScrape -update"
# in deploy/observability, with bin/daprd built (make runtime).
`, version, afterTraffic)
	for _, f := range fams {
		labels := "-"
		if len(f.labels) > 0 {
			labels = strings.Join(f.labels, ",")
		}
		line := f.name + " " + f.typ + " " + labels
		if f.source {
			line += " " + afterTraffic
		}
		b.WriteString(line + "\n")
	}
	return b.Bytes()
}

// A real daprd with metrics on a loopback port, an app, and every kind of
// traffic one sidecar can make on its own (publish and delivery through an
// in-memory broker, secret, binding and state calls, an invocation of its
// own app, a resiliency policy); its scrape, plus fromSource for what it
// cannot see, is daprMetricsFile.
func TestDaprMetricsScrape(t *testing.T) {
	if _, err := daprdPath(); err != nil {
		t.Skipf("no daprd to scrape (%v): run `make runtime`, or set SA_ROOT", err)
	}
	var delivered atomic.Int32
	app := http.NewServeMux()
	app.HandleFunc("GET /dapr/subscribe", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `[{"pubsubname":"pubsub","topic":"events","route":"/events"}]`)
	})
	app.HandleFunc("POST /events", func(w http.ResponseWriter, _ *http.Request) {
		// Dapr records the app's processing time in whole milliseconds
		// and only above 0: take a few.
		time.Sleep(5 * time.Millisecond)
		delivered.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"SUCCESS"}`)
	})
	app.HandleFunc("POST /echo", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: app, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	dir := t.TempDir()
	secrets := filepath.Join(dir, "secrets.json")
	require.NoError(t, os.WriteFile(secrets, []byte(`{"k":"v"}`), 0o600))
	metricsPort := freePort(t)
	const appID = "scraped"
	sc := daprtest.Start(t, daprtest.Options{
		AppID:   appID,
		AppPort: ln.Addr().(*net.TCPAddr).Port,
		// A later --metrics-port wins over the one daprtest picks, so the
		// test knows where to scrape.
		Args: []string{"--metrics-port", strconv.Itoa(metricsPort), "--enable-metrics=true"},
		Resources: map[string]string{
			"pubsub.yaml":     component("pubsub", "pubsub.in-memory"),
			"state.yaml":      component("statestore", "state.in-memory"),
			"secrets.yaml":    daprtest.LocalFileSecretStore("secrets", secrets),
			"binding.yaml":    component("staging", "bindings.localstorage", "rootPath", filepath.Join(dir, "staging")),
			"resiliency.yaml": resiliency,
		},
	})

	do := func(method, path, body string) {
		t.Helper()
		req, err := http.NewRequest(method, sc.HTTPURL()+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Less(t, resp.StatusCode, 300, "%s %s: %s", method, path, out)
	}
	do("POST", "/v1.0/publish/pubsub/events", `{"n":1}`)
	do("GET", "/v1.0/secrets/secrets/k", "")
	do("POST", "/v1.0/bindings/staging", `{"operation":"create","data":"x","metadata":{"fileName":"f"}}`)
	do("POST", "/v1.0/state/statestore", `[{"key":"k","value":"v"}]`)
	do("GET", "/v1.0/state/statestore/k", "")
	do("POST", "/v1.0/invoke/"+appID+"/method/echo", `{}`)
	// The in-memory broker drops what is published before the sidecar has
	// subscribed (it reads /dapr/subscribe after it reports healthy):
	// publish again until one is delivered.
	require.Eventually(t, func() bool {
		if delivered.Load() > 0 {
			return true
		}
		// Not do: Eventually runs this off the test goroutine.
		if resp, err := http.Post(sc.HTTPURL()+"/v1.0/publish/pubsub/events", "application/json", strings.NewReader(`{"n":1}`)); err == nil {
			resp.Body.Close()
		}
		return false
	}, 30*time.Second, 500*time.Millisecond, "the published event reaches the app")

	var scraped map[string]*dto.MetricFamily
	require.Eventually(t, func() bool {
		scraped, err = scrape(fmt.Sprintf("http://127.0.0.1:%d/", metricsPort))
		return err == nil && scraped["dapr_component_pubsub_ingress_count"] != nil
	}, 30*time.Second, 200*time.Millisecond, "scrape daprd's metrics: %v", err)

	fams := map[string]daprFamily{}
	for name, mf := range scraped {
		if !strings.HasPrefix(name, "dapr_") {
			continue // the Go and process collectors
		}
		fams[name] = familyOf(mf)
	}
	for _, src := range fromSource {
		// Listed from the source whether this scrape saw it or not, so the
		// file does not depend on timing; when it did, the two agree.
		if seen, ok := fams[src.name]; ok {
			require.Equal(t, src.labels, seen.labels, "labels of %s: fromSource vs the scrape", src.name)
			require.Equal(t, src.typ, seen.typ, "type of %s", src.name)
		}
		src.source = true
		fams[src.name] = src
	}
	var list []daprFamily
	for _, f := range fams {
		list = append(list, f)
	}
	got := renderDaprFamilies(daprVersion(t), list)
	if *update {
		require.NoError(t, os.WriteFile(daprMetricsFile, got, 0o644))
	}
	want, err := os.ReadFile(daprMetricsFile)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got), "%s: run `GOWORK=off go test ./grafana -run TestDaprMetricsScrape -update`", daprMetricsFile)
}

// familyOf is a scraped family's type and the union of its series' label
// names (labels with an empty value included: daprd writes them).
func familyOf(mf *dto.MetricFamily) daprFamily {
	typ := strings.ToLower(mf.GetType().String())
	set := map[string]bool{}
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			set[l.GetName()] = true
		}
	}
	var labels []string
	for l := range set {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	return daprFamily{name: mf.GetName(), typ: typ, labels: labels}
}

func scrape(url string) (map[string]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// daprdPath is bin/daprd as libs/daprtest finds it, or an error.
func daprdPath() (string, error) {
	if root := os.Getenv("SA_ROOT"); root != "" {
		p := filepath.Join(root, "bin", "daprd")
		_, err := os.Stat(p)
		return p, err
	}
	p, err := filepath.Abs("../../../bin/daprd")
	if err != nil {
		return "", err
	}
	_, err = os.Stat(p)
	return p, err
}

// daprVersion is the Dapr release deploy/dapr-runtime pins.
func daprVersion(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../dapr-runtime/go.mod")
	require.NoError(t, err)
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "github.com/dapr/dapr" {
			return strings.TrimPrefix(f[1], "v")
		}
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "require" && f[1] == "github.com/dapr/dapr" {
			return strings.TrimPrefix(f[2], "v")
		}
	}
	t.Fatal("deploy/dapr-runtime/go.mod does not require github.com/dapr/dapr")
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func component(name, typ string, meta ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: %s\nspec:\n  type: %s\n  version: v1\n  metadata: [", name, typ)
	for i := 0; i+1 < len(meta); i += 2 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "{name: %s, value: %q}", meta[i], meta[i+1])
	}
	b.WriteString("]\n")
	return b.String()
}

// resiliency is the inbound pub/sub retry policy of components/local.
const resiliency = `apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: secure-agent
spec:
  policies:
    retries:
      appRestart:
        policy: exponential
        maxInterval: 5s
        maxRetries: 10
  targets:
    components:
      pubsub:
        inbound:
          retry: appRestart
`
