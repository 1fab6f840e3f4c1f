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
	targets := l.MetricsTargets([]string{"orchestrator", "extractor", "extractor-2", "publisher", "health"})
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
	require.Len(t, got, 5*2+3)
	require.Equal(t, map[string]string{"app": "extractor", "container": "app", "process": "extractor-2"},
		got["127.0.0.1:"+itoa(ports.App["extractor-2"].App)])
	require.Equal(t, map[string]string{"app": "extractor", "container": "daprd", "process": "extractor-2-dapr"},
		got["127.0.0.1:"+itoa(ports.App["extractor-2"].DaprMetrics)])
	require.Equal(t, "sentry", got["127.0.0.1:"+itoa(ports.SentryMetrics)]["container"])
	require.True(t, strings.HasPrefix(string(b), "# Written by the secure-agent launcher"))
}

func itoa(n int) string { return strconv.Itoa(n) }
