package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
	"github.com/secure-agent/secure-agent/libs/job"
)

// The observability proof (issue 13, items 5 and 6), on one stack linked
// to the reference control plane, every app and sidecar exporting spans to
// a receiver in this test and scraped by a real Prometheus that loads the
// e2e variant of the alert rules (same rules, short timings):
//
//  1. a successful job: it is one trace holding spans of the four apps,
//     every parent present, one database span per catalog statement and no
//     secret anywhere in a span; every dashboard query marked "always"
//     returns data and every metric an alert reads is exported;
//  2. a failing job: the "failure" queries return data and the job
//     failure alert fires, then resolves;
//  3. the extractor killed and kept down: the "kill" queries return data
//     and the app-down alert fires; restarted, it resolves.
//
// Every query, alert and the phase it answered in is logged (-v).
func TestObservabilityLive(t *testing.T) {
	t.Parallel()
	const portBase, promPort = 32000, 32200
	recv := startOTLPReceiver(t)
	dataDir := stackDataDir(t)
	pw := writeSecrets(t, dataDir)
	s, err := stack.Start(context.Background(), stack.Options{
		Root: root(t), DataDir: dataDir, Profile: "local", PortBase: portBase, StartTimeout: 3 * time.Minute,
		ControlPlane: stack.ControlPlaneLocal, OTLPEndpoint: recv.addr, Progress: &testLog{t: t}, Restarts: 10,
	})
	require.NoError(t, err)
	// Unsupervised until the kill phase: the killed extractor must stay
	// down long enough for its alert to fire.
	supervised := false
	t.Cleanup(func() {
		if !supervised {
			if t.Failed() {
				dumpLogs(t, dataDir)
			}
			require.NoError(t, s.Stop())
		}
	})
	a := agent{t: t, s: s}
	prom := startPrometheus(t, s, promPort)
	assets := loadObservabilityAssets(t)
	report := &phaseReport{}
	t.Cleanup(func() { report.log(t) })

	// Phase 1: a successful job on MariaDB with a canary password.
	mariaCatalog(t, "sa_e2e_obs", 1, 4)
	mariaUser(t, "sa_obs", pw, `sa\_e2e\_obs\_%`)
	statementsBefore := scrapeSum(t, s.AppURL("extractor")+"/metrics", "secure_agent_source_statements_total")
	id := queueOnControlPlane(t, s, map[string]any{
		"version": 1, "name": "observed", "connection": "default/mysql/observed",
		"source": map[string]any{"kind": "mysql", "dsn": "sa_obs@tcp(127.0.0.1:3306)/",
			"password": map[string]string{"store": "secrets", "key": "demo-source-password"}},
	})
	st := a.wait(id, 3*time.Minute)
	require.Equal(t, job.Succeeded, st.State, "%v", st.Errors)
	statements := scrapeSum(t, s.AppURL("extractor")+"/metrics", "secure_agent_source_statements_total") - statementsBefore
	require.Positive(t, statements)

	t.Run("the job is one trace across the four apps and their sidecars", func(t *testing.T) {
		requireJobTrace(t, recv, id, int(statements))
	})
	t.Run("every log line of the job names its trace and span", func(t *testing.T) {
		requireJobLinesTraced(t, dataDir, id, jobTraceID(t, recv, id))
	})
	t.Run("no span holds a secret", func(t *testing.T) {
		secrets := map[string]string{"the source password": pw, "the job API token": s.APIToken()}
		for inst, tok := range s.Tokens().Sidecar {
			secrets["the sidecar token of "+inst] = tok
		}
		_, secret, err := controlPlaneSecret(dataDir)
		require.NoError(t, err)
		secrets["the control-plane client secret"] = secret
		requireNoSecretInSpans(t, recv.all(), secrets)
	})

	sampleBindingCalls(t, s, prom)
	t.Run("after a successful job", func(t *testing.T) {
		report.queries(t, prom, assets, "always", "success")
		report.alertMetrics(t, prom, assets)
		report.noAlertFiring(t, prom, assets, "success")
	})

	// Phase 2: a job that fails (the source refuses the password).
	bad := queueOnControlPlane(t, s, map[string]any{
		"version": 1, "name": "refused", "connection": "default/mysql/refused",
		"source": map[string]any{"kind": "mysql", "dsn": "sa_obs_nobody@tcp(127.0.0.1:3306)/",
			"password": map[string]string{"store": "secrets", "key": "demo-source-password"}},
	})
	st = a.wait(bad, 3*time.Minute)
	require.Equal(t, job.Failed, st.State)
	sampleBindingCalls(t, s, prom)
	t.Run("after a failing job", func(t *testing.T) {
		report.queries(t, prom, assets, "failure", "failure")
		report.queries(t, prom, assets, "always", "failure")
		report.alertsFireAndResolve(t, prom, assets, "failure", nil)
	})

	// Phase 3: the extractor killed, then restarted by the supervisor.
	t.Run("while the extractor is down", func(t *testing.T) {
		pid := s.Pids()["extractor"]
		require.NotZero(t, pid)
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
		t.Logf("killed the extractor app (pid %d); it stays down until its alert fires", pid)
		report.alertsFireAndResolve(t, prom, assets, "kill", func() {
			report.queries(t, prom, assets, "kill", "kill")
			supervised = true
			supervise(t, s, dataDir)
		})
	})
}

// ---- Prometheus ----

type prometheus struct {
	base string
}

// startPrometheus runs bin/prometheus on the stack's scrape configuration
// (what `make run` writes to the data dir, checked by promtool first) with
// the e2e alert rules, scraping every 2 s.
func startPrometheus(t *testing.T, s *stack.Stack, port int) *prometheus {
	t.Helper()
	bin := filepath.Join(root(t), "bin")
	for _, b := range []string{"prometheus", "promtool"} {
		_, err := os.Stat(filepath.Join(bin, b))
		require.NoError(t, err, "bin/%s is missing: run `make promtools`", b)
	}
	rules := filepath.Join(root(t), "deploy", "observability", "prometheus", "secure-agent.rules.e2e.yaml")
	cfg, err := stack.PrometheusConfig(s.MetricsTargets(s.Instances()), stack.PrometheusOptions{
		ScrapeInterval: 2 * time.Second, RuleFiles: []string{rules}})
	require.NoError(t, err)
	dir := t.TempDir()
	file := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(file, cfg, 0o600))
	out, err := exec.Command(filepath.Join(bin, "promtool"), "check", "config", file).CombinedOutput()
	require.NoError(t, err, "promtool check config:\n%s", out)

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "prometheus"), "--config.file="+file,
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address=127.0.0.1:"+strconv.Itoa(port),
		"--storage.tsdb.retention.time=1h", "--log.level=warn")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", log.String())
		}
	})
	p := &prometheus{base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	require.Eventually(t, func() bool {
		resp, err := http.Get(p.base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, time.Minute, 200*time.Millisecond, "prometheus did not become ready:\n%s", &log)
	// Every target of the stack is up before anything is measured.
	want := len(s.MetricsTargets(s.Instances()))
	require.Eventually(t, func() bool {
		var r struct {
			Data struct {
				ActiveTargets []struct {
					Health string `json:"health"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		if p.get(t, "/api/v1/targets", nil, &r) != nil {
			return false
		}
		up := 0
		for _, tg := range r.Data.ActiveTargets {
			if tg.Health == "up" {
				up++
			}
		}
		return up == want
	}, time.Minute, time.Second, "not every target of the stack is up in prometheus")
	return p
}

func (p *prometheus) get(t *testing.T, path string, q url.Values, v any) error {
	u := p.base + path
	if q != nil {
		u += "?" + q.Encode()
	}
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", path, resp.Status, b)
	}
	return json.Unmarshal(b, v)
}

// query runs an instant query and returns how many series it answered.
func (p *prometheus) query(t *testing.T, expr string) (int, error) {
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := p.get(t, "/api/v1/query", url.Values{"query": {expr}}, &r); err != nil {
		return 0, err
	}
	return len(r.Data.Result), nil
}

// waitScrapedAfter waits until every target was scraped after at.
// waitTwoSamplesAfter waits until every target was scraped twice after at:
// a series first exported before at then has two samples, which rate()
// over a panel's window needs (one scrape is not enough for a histogram
// created by the job that just ended).
// sampleBindingCalls writes an 8 MiB file to the publisher's staging
// binding through its sidecar twice, with a scrape between, deletes it and
// waits for two scrapes. daprd records an output binding's latency only
// when the call took at least a millisecond (it measures whole
// milliseconds, and skips 0), so a job's small writes on loopback may leave
// the latency histogram empty, or new and unchanged between scrapes; a
// rate over it is then 0 and its quantile no data. The large writes give
// Dapr's binding latency panels an increase to show in every phase.
func sampleBindingCalls(t *testing.T, s *stack.Stack, prom *prometheus) {
	t.Helper()
	call := func(op, data string) {
		b, err := json.Marshal(map[string]any{"operation": op, "data": data, "metadata": map[string]string{"fileName": "observability-probe/latency"}})
		require.NoError(t, err)
		ans := postBody(t, s.SidecarURL("publisher")+"/v1.0/bindings/staging", string(b), sidecarAuth(s, "publisher"))
		require.Contains(t, []int{http.StatusOK, http.StatusNoContent}, ans.Status, "%s on the staging binding through the publisher's sidecar: %s", op, ans.Body)
	}
	big := strings.Repeat("x", 8<<20)
	call("create", big)
	prom.waitScrapedAfter(t, time.Now())
	call("create", big)
	call("delete", "")
	prom.waitTwoSamplesAfter(t, time.Now())
}

func (p *prometheus) waitTwoSamplesAfter(t *testing.T, at time.Time) {
	t.Helper()
	p.waitScrapedAfter(t, at)
	p.waitScrapedAfter(t, time.Now())
}

func (p *prometheus) waitScrapedAfter(t *testing.T, at time.Time) {
	t.Helper()
	require.Eventually(t, func() bool {
		var r struct {
			Data struct {
				ActiveTargets []struct {
					LastScrape time.Time `json:"lastScrape"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		if p.get(t, "/api/v1/targets", nil, &r) != nil || len(r.Data.ActiveTargets) == 0 {
			return false
		}
		for _, tg := range r.Data.ActiveTargets {
			if tg.LastScrape.Before(at) {
				return false
			}
		}
		return true
	}, 30*time.Second, 500*time.Millisecond)
}

type alertState struct {
	Name  string
	State string
}

func (p *prometheus) alerts(t *testing.T) []alertState {
	var r struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	require.NoError(t, p.get(t, "/api/v1/alerts", nil, &r))
	var out []alertState
	for _, a := range r.Data.Alerts {
		out = append(out, alertState{Name: a.Labels["alertname"], State: a.State})
	}
	return out
}

// ---- the assets under test ----

type observabilityAssets struct {
	Queries []struct {
		Dashboard string `json:"dashboard"`
		Panel     string `json:"panel"`
		Expr      string `json:"expr"`
		When      string `json:"when"`
	}
	Alerts []struct {
		Name      string   `json:"name"`
		Expr      string   `json:"expr"`
		FiresWhen string   `json:"fires_when"`
		Metrics   []string `json:"metrics"`
	}
}

func loadObservabilityAssets(t *testing.T) observabilityAssets {
	t.Helper()
	var a observabilityAssets
	dir := filepath.Join(root(t), "deploy", "observability")
	b, err := os.ReadFile(filepath.Join(dir, "grafana", "queries.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &a.Queries))
	b, err = os.ReadFile(filepath.Join(dir, "prometheus", "alerts.json"))
	require.NoError(t, err)
	var alerts struct {
		Alerts json.RawMessage `json:"alerts"`
	}
	require.NoError(t, json.Unmarshal(b, &alerts))
	require.NoError(t, json.Unmarshal(alerts.Alerts, &a.Alerts))
	require.NotEmpty(t, a.Queries)
	require.NotEmpty(t, a.Alerts)
	return a
}

// substitute fills the dashboards' template variables as the README in
// deploy/observability/grafana says: every app, a window covering the run.
func substitute(expr string) string {
	return strings.NewReplacer("$__rate_interval", "10m", "${app}", ".*", "$app", ".*").Replace(expr)
}

// ---- what each phase showed ----

type phaseReport struct {
	lines []string
}

func (r *phaseReport) add(format string, args ...any) {
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

func (r *phaseReport) log(t *testing.T) {
	sort.Strings(r.lines)
	t.Logf("observability proof, phase by phase:\n%s", strings.Join(r.lines, "\n"))
}

// queries checks that every dashboard query marked when returns data now.
func (r *phaseReport) queries(t *testing.T, p *prometheus, a observabilityAssets, when, phase string) {
	t.Helper()
	checked := 0
	for _, q := range a.Queries {
		if q.When != when {
			continue
		}
		checked++
		n, err := p.query(t, substitute(q.Expr))
		if !assertNoError(t, err, "%s / %s: %s", q.Dashboard, q.Panel, q.Expr) {
			continue
		}
		if n == 0 {
			t.Errorf("%s / %s returned no data in phase %s: %s", q.Dashboard, q.Panel, phase, q.Expr)
			continue
		}
		r.add("panel  %-12s %-40s data in phase %s (%d series)", q.Dashboard, q.Panel, phase, n)
	}
	require.Positive(t, checked, "no query is marked %q", when)
}

func assertNoError(t *testing.T, err error, format string, args ...any) bool {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v", fmt.Sprintf(format, args...), err)
		return false
	}
	return true
}

// alertMetrics checks that every alert expression evaluates and every
// metric it reads is exported by the running stack.
func (r *phaseReport) alertMetrics(t *testing.T, p *prometheus, a observabilityAssets) {
	t.Helper()
	for _, al := range a.Alerts {
		_, err := p.query(t, al.Expr)
		assertNoError(t, err, "alert %s", al.Name)
		for _, m := range al.Metrics {
			n, err := p.query(t, fmt.Sprintf("count({__name__=%q})", m))
			if assertNoError(t, err, "alert %s metric %s", al.Name, m) && n == 0 {
				t.Errorf("alert %s reads %s, which no process exports", al.Name, m)
			}
		}
		r.add("alert  %-40s expression evaluates, its metrics %v are exported", al.Name, al.Metrics)
	}
}

// noAlertFiring checks that a healthy stack fires nothing.
func (r *phaseReport) noAlertFiring(t *testing.T, p *prometheus, a observabilityAssets, phase string) {
	t.Helper()
	for _, al := range p.alerts(t) {
		if al.State == "firing" {
			t.Errorf("alert %s is firing in phase %s", al.Name, phase)
		}
	}
}

// alertsFireAndResolve waits for every alert marked when to fire, runs
// during (may be nil) while they fire, then waits for them to resolve.
func (r *phaseReport) alertsFireAndResolve(t *testing.T, p *prometheus, a observabilityAssets, when string, during func()) {
	t.Helper()
	want := map[string]bool{}
	for _, al := range a.Alerts {
		if al.FiresWhen == when {
			want[al.Name] = true
		}
	}
	require.NotEmpty(t, want, "no alert is marked %q", when)
	firing := func() map[string]bool {
		got := map[string]bool{}
		for _, al := range p.alerts(t) {
			if al.State == "firing" {
				got[al.Name] = true
			}
		}
		return got
	}
	start := time.Now()
	require.Eventually(t, func() bool {
		got := firing()
		for name := range want {
			if !got[name] {
				return false
			}
		}
		return true
	}, 2*time.Minute, time.Second, "alerts %v did not all fire (firing: %v)", want, firing())
	for name := range want {
		r.add("alert  %-40s fired in phase %s after %s", name, when, time.Since(start).Round(time.Second))
	}
	if during != nil {
		during()
	}
	start = time.Now()
	require.Eventually(t, func() bool {
		got := firing()
		for name := range want {
			if got[name] {
				return false
			}
		}
		return true
	}, 4*time.Minute, 2*time.Second, "alerts %v did not resolve (firing: %v)", want, firing())
	for name := range want {
		r.add("alert  %-40s resolved %s after phase %s", name, time.Since(start).Round(time.Second), when)
	}
}

// ---- the stack ----

// queueOnControlPlane queues spec on the reference control plane and
// returns the job id the agent runs it under (the control plane's).
func queueOnControlPlane(t *testing.T, s *stack.Stack, spec map[string]any) string {
	t.Helper()
	b, err := json.Marshal(spec)
	require.NoError(t, err)
	resp, err := http.Post(s.ControlPlaneAdminURL()+"/jobs", "application/json", bytes.NewReader(b))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Less(t, resp.StatusCode, 300, "queue a job: %s", body)
	var queued struct {
		JobID string `json:"job_id"`
	}
	require.NoError(t, json.Unmarshal(body, &queued))
	require.NotEmpty(t, queued.JobID)
	return queued.JobID
}

// scrapeSum adds up every sample of metric in the Prometheus text at url.
func scrapeSum(t *testing.T, url, metric string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric+"{") && !strings.HasPrefix(line, metric+" ") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		require.NoError(t, err, line)
		sum += v
	}
	require.NoError(t, sc.Err())
	return sum
}

func controlPlaneSecret(dataDir string) (string, string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "secrets.json"))
	if err != nil {
		return "", "", err
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return "", "", err
	}
	return m["controlplane-client-id"], m["controlplane-client-secret"], nil
}
