package datadog

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/metricdef"
)

// daprMetricsFile lists the families a real daprd exports, with their
// labels (written by the grafana package's scrape test).
const daprMetricsFile = "../testdata/dapr-metrics.txt"

type daprFamily struct {
	name   string
	typ    metricdef.Type
	labels []string
}

func loadDaprFamilies() ([]daprFamily, error) {
	f, err := os.Open(daprMetricsFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []daprFamily
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 3 {
			return nil, fmt.Errorf("%s: malformed line %q", daprMetricsFile, line)
		}
		fam := daprFamily{name: fields[0], typ: metricdef.Type(fields[1])}
		if fields[2] != "-" {
			fam.labels = strings.Split(fields[2], ",")
		}
		out = append(out, fam)
	}
	return out, sc.Err()
}

// ddMetric is one Datadog metric the checks submit, with the tags it
// carries and the Prometheus family it comes from.
type ddMetric struct {
	Metric
	family string
	check  Check
	tags   map[string]bool
}

// Tags every metric of a check carries besides its labels: the instance's
// own (app, container; endpoint from tag_by_endpoint) and what Autodiscovery
// adds from the pod (the Agent's Kubernetes tagger), plus what the user
// adds with datadog.tags (env, team, ...).
var agentTags = []string{TagApp, TagContainer, "endpoint", "kube_namespace", "kube_deployment", "kube_replica_set",
	"pod_name", "kube_container_name", "container_name", "host", "env", "service", "version", "team"}

// catalogue maps every Datadog metric name the two checks submit to its
// description.
type catalogue map[string]ddMetric

func newCatalogue(defs []metricdef.Def, dapr []daprFamily) (catalogue, error) {
	c := catalogue{}
	add := func(check Check, family string, typ metricdef.Type, labels []string) error {
		ms, err := check.Metrics(family, typ)
		if err != nil {
			return err
		}
		for _, m := range ms {
			tags := map[string]bool{}
			for _, l := range append(append([]string(nil), labels...), agentTags...) {
				tags[l] = true
			}
			if m.Kind == Distribution {
				// The bucket bounds of each sample (histogram transformer).
				tags["lower_bound"], tags["upper_bound"] = true, true
			}
			c[m.Name] = ddMetric{Metric: m, family: family, check: check, tags: tags}
		}
		return nil
	}
	for _, d := range defs {
		if err := add(AppCheck, d.Name, d.Type, d.Labels); err != nil {
			return nil, err
		}
	}
	for _, f := range dapr {
		if err := add(DaprCheck, f.name, f.typ, f.labels); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func loadCatalogue(t *testing.T) catalogue {
	t.Helper()
	fams, err := loadDaprFamilies()
	require.NoError(t, err)
	require.NotEmpty(t, fams)
	c, err := newCatalogue(metricdef.All(), fams)
	require.NoError(t, err)
	return c
}

// The Dapr families the assets use are in the scrape of a real daprd,
// with the same type.
func TestDaprFamiliesAreExported(t *testing.T) {
	fams, err := loadDaprFamilies()
	require.NoError(t, err)
	byName := map[string]daprFamily{}
	for _, f := range fams {
		byName[f.name] = f
	}
	for _, f := range DaprFamilies() {
		got, ok := byName[f.Name]
		if !ok {
			t.Errorf("%s is not in %s", f.Name, daprMetricsFile)
			continue
		}
		require.Equal(t, f.Type, got.typ, f.Name)
	}
}
