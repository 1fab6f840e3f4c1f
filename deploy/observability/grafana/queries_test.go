package grafana

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	promparser "github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
)

// readManifest decodes queries.json strictly.
func readManifest(t *testing.T) []Query {
	t.Helper()
	raw, err := os.ReadFile(manifest)
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var qs []Query
	require.NoError(t, dec.Decode(&qs))
	return qs
}

// queries.json lists every target of every committed dashboard, in order,
// each with a phase.
func TestManifestListsEveryTarget(t *testing.T) {
	boards := committedBoards(t)
	var fromBoards []Query
	for _, name := range []string{"overview", "pipeline", "sources", "controlplane", "dapr"} {
		for _, p := range boards[name].Panels {
			if p.Panel == nil {
				continue
			}
			for _, q := range queriesOf(p.Panel) {
				fromBoards = append(fromBoards, Query{Dashboard: name, Panel: deref(p.Panel.Title), Expr: q.Expr})
			}
		}
	}
	qs := readManifest(t)
	var listed []Query
	for _, q := range qs {
		require.Contains(t, []When{Always, Failure, Kill}, q.When, "%s / %s", q.Dashboard, q.Panel)
		listed = append(listed, Query{Dashboard: q.Dashboard, Panel: q.Panel, Expr: q.Expr})
	}
	require.Equal(t, fromBoards, listed)
}

// e2eSubstitute applies README.md's rules, as the live e2e test does.
func e2eSubstitute(expr, window string) string {
	expr = strings.ReplaceAll(expr, RateInterval, window)
	return regexp.MustCompile(`\$\{?`+AppVar+`\}?`).ReplaceAllString(expr, ".*")
}

// After README.md's substitutions every query is plain PromQL, ready for
// Prometheus's HTTP API.
func TestManifestQueriesRunAfterSubstitution(t *testing.T) {
	p := promparser.NewParser(promparser.Options{})
	for _, q := range readManifest(t) {
		expr := e2eSubstitute(q.Expr, "5m")
		require.NotContains(t, expr, "$", "%s / %s: a variable README.md does not cover", q.Dashboard, q.Panel)
		_, err := p.ParseExpr(expr)
		require.NoError(t, err, "%s / %s: %s", q.Dashboard, q.Panel, expr)
	}
}
