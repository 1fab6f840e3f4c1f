package stack

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// Every app, every sidecar and the Dapr control plane are scrape targets,
// labelled as the dashboards and alert rules expect (app, container).
// Prometheus itself checks the file in e2e (promtool check config).
func TestPrometheusConfigCoversEveryProcess(t *testing.T) {
	ports, err := PlanPorts(17000)
	require.NoError(t, err)
	l := Layout{ports: ports}
	instances := (&Stack{opts: Options{Replicas: map[string]int{"orchestrator": 2, "extractor": 2, "publisher": 2, "health": 2}}}).Instances()
	targets := l.MetricsTargets(instances)
	b, err := PrometheusConfig(targets, PrometheusOptions{ScrapeInterval: 2 * time.Second, RuleFiles: []string{"/r.yaml"}})
	require.NoError(t, err)
	var c promConfig
	require.NoError(t, yaml.Unmarshal(b, &c))
	require.Equal(t, "2s", c.Global.ScrapeInterval)
	require.Equal(t, []string{"/r.yaml"}, c.RuleFiles)
	got := map[string]map[string]string{}
	for _, sc := range c.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			require.Len(t, st.Targets, 1)
			got[st.Targets[0]] = st.Labels
		}
	}
	require.Len(t, got, 8*2+3)
	for _, inst := range instances {
		app := AppIDOf(inst)
		require.Equal(t, map[string]string{"app": app, "container": "app", "process": inst},
			got["127.0.0.1:"+itoa(ports.App[inst].App)])
		require.Equal(t, map[string]string{"app": app, "container": "daprd", "process": inst + "-dapr"},
			got["127.0.0.1:"+itoa(ports.App[inst].DaprMetrics)])
	}
	require.Equal(t, "publisher", got["127.0.0.1:"+itoa(ports.App["publisher-2"].App)]["app"])
	require.Equal(t, "sentry", got["127.0.0.1:"+itoa(ports.SentryMetrics)]["container"])
	require.True(t, strings.HasPrefix(string(b), "# Written by the secure-agent launcher"))
}

func itoa(n int) string { return strconv.Itoa(n) }
