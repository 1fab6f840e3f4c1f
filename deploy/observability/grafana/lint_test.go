package grafana

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/stretchr/testify/require"
)

// The rules of grafana/dashboard-linter that apply here, checked without
// it (it imports AGPL packages of grafana/grafana and Loki): a datasource
// variable every panel and target uses; an app variable (the linter's job
// and instance variables, for our label convention); a unit and a
// description on every panel; stable uids; tags. The PromQL rules
// ($__rate_interval, counters under rate, valid PromQL) are checkExpr's.

// uids are the dashboards' uids: links and bookmarks use them, so they
// never change.
var uids = map[string]string{
	"overview":     "secure-agent-overview",
	"pipeline":     "secure-agent-pipeline",
	"sources":      "secure-agent-sources",
	"controlplane": "secure-agent-controlplane",
	"dapr":         "secure-agent-dapr",
}

func queriesOf(p *dashboard.Panel) []*prometheus.Dataquery {
	var out []*prometheus.Dataquery
	for _, t := range p.Targets {
		if q, ok := t.(*prometheus.Dataquery); ok {
			out = append(out, q)
		}
	}
	return out
}

func isDatasourceVar(ref *common.DataSourceRef) bool {
	return ref != nil && deref(ref.Type) == "prometheus" && deref(ref.Uid) == "${"+DatasourceVar+"}"
}

// lint returns every rule d breaks; units are the valid unit ids.
func lint(name string, d dashboard.Dashboard, units map[string]bool) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(name+": "+format, args...)) }

	if deref(d.Uid) != uids[name] {
		fail("uid %q, want %q", deref(d.Uid), uids[name])
	}
	if !strings.HasPrefix(deref(d.Title), "secure-agent / ") || deref(d.Description) == "" {
		fail("title %q must start with \"secure-agent / \" and the dashboard needs a description", deref(d.Title))
	}
	if len(d.Tags) == 0 || d.Tags[0] != Tag {
		fail("tags %v: the first is %q", d.Tags, Tag)
	}
	if deref(d.Editable) {
		fail("editable: provisioned dashboards are read-only (edit the generator)")
	}

	vars := map[string]dashboard.VariableModel{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	if len(d.Templating.List) != 2 {
		fail("%d template variables, want %s and %s", len(d.Templating.List), DatasourceVar, AppVar)
	}
	if v, ok := vars[DatasourceVar]; !ok || v.Type != dashboard.VariableTypeDatasource ||
		v.Query == nil || deref(v.Query.String) != "prometheus" {
		fail("variable %s: a datasource variable of type prometheus", DatasourceVar)
	}
	if v, ok := vars[AppVar]; !ok || v.Type != dashboard.VariableTypeQuery || !isDatasourceVar(v.Datasource) ||
		v.Query == nil || deref(v.Query.String) != appValues ||
		deref(v.Refresh) != dashboard.VariableRefreshOnTimeRangeChanged ||
		!deref(v.Multi) || !deref(v.IncludeAll) || deref(v.AllValue) != ".*" {
		fail("variable %s: a multi-value query variable over %s on $%s, with All (.*), refreshed on time range change", AppVar, appValues, DatasourceVar)
	}

	ids, titles := map[uint32]bool{}, map[string]bool{}
	for i, p := range d.Panels {
		if p.RowPanel != nil {
			if ids[p.RowPanel.Id] {
				fail("row %q: id %d used twice", deref(p.RowPanel.Title), p.RowPanel.Id)
			}
			ids[p.RowPanel.Id] = true
			continue
		}
		if p.Panel == nil {
			fail("panels[%d]: empty", i)
			continue
		}
		pn := p.Panel
		title := deref(pn.Title)
		pfail := func(format string, args ...any) { fail("panel %q: "+format, append([]any{title}, args...)...) }
		if title == "" {
			pfail("no title")
		}
		if titles[title] {
			pfail("title used twice (queries.json names panels by title)")
		}
		titles[title] = true
		if pn.Id == nil || ids[*pn.Id] {
			pfail("no id, or an id used twice")
		} else {
			ids[*pn.Id] = true
		}
		if deref(pn.Description) == "" {
			pfail("no description")
		}
		if pn.FieldConfig == nil || !units[deref(pn.FieldConfig.Defaults.Unit)] {
			unit := ""
			if pn.FieldConfig != nil {
				unit = deref(pn.FieldConfig.Defaults.Unit)
			}
			pfail("unit %q is not a Grafana unit", unit)
		}
		if !isDatasourceVar(pn.Datasource) {
			pfail("datasource: use ${%s}", DatasourceVar)
		}
		if g := pn.GridPos; g == nil || g.W == 0 || g.H == 0 || g.X+g.W > 24 {
			pfail("grid position %+v", g)
		}
		qs := queriesOf(pn)
		if len(qs) == 0 || len(qs) != len(pn.Targets) {
			pfail("needs Prometheus targets, and only them")
		}
		refs := map[string]bool{}
		for _, q := range qs {
			if !isDatasourceVar(q.Datasource) {
				pfail("target %s: datasource: use ${%s}", deref(q.RefId), DatasourceVar)
			}
			if deref(q.RefId) == "" || refs[deref(q.RefId)] {
				pfail("target refId %q missing or used twice", deref(q.RefId))
			}
			refs[deref(q.RefId)] = true
			if strings.TrimSpace(q.Expr) == "" {
				pfail("target %s has no expression", deref(q.RefId))
			}
		}
	}
	return errs
}

// grafanaUnits are the unit ids Grafana knows, read from the SDK's units
// package (its constants are Grafana's unit list).
var grafanaUnits = sync.OnceValues(func() (map[string]bool, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/grafana/grafana-foundation-sdk/go")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("find the foundation SDK: %w", err)
	}
	file := filepath.Join(strings.TrimSpace(string(out)), "units", "types_gen.go")
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		return nil, err
	}
	units := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if s, err := strconv.Unquote(lit.Value); err == nil {
				units[s] = true
			}
		}
		return true
	})
	if len(units) < 100 || !units["s"] || !units["percentunit"] {
		return nil, fmt.Errorf("%s: %d units, not Grafana's list", file, len(units))
	}
	return units, nil
})

func TestDashboardsFollowTheConventions(t *testing.T) {
	units, err := grafanaUnits()
	require.NoError(t, err)
	boards := committedBoards(t)
	require.Len(t, boards, len(uids))
	for name, d := range boards {
		require.Contains(t, uids, name)
		for _, err := range lint(name, d, units) {
			t.Error(err)
		}
	}
}

// Each rule fails on a dashboard that breaks it.
func TestLintCatchesMistakes(t *testing.T) {
	units, err := grafanaUnits()
	require.NoError(t, err)
	raw, err := os.ReadFile("overview.json")
	require.NoError(t, err)
	firstPanel := func(d *dashboard.Dashboard) *dashboard.Panel {
		for _, p := range d.Panels {
			if p.Panel != nil {
				return p.Panel
			}
		}
		return nil
	}
	other := common.DataSourceRef{Type: ptr("prometheus"), Uid: ptr("prod")}
	cases := map[string]struct {
		edit func(d *dashboard.Dashboard)
		want string
	}{
		"uid changed":            {func(d *dashboard.Dashboard) { d.Uid = ptr("overview") }, "uid"},
		"editable":               {func(d *dashboard.Dashboard) { d.Editable = ptr(true) }, "editable"},
		"no datasource variable": {func(d *dashboard.Dashboard) { d.Templating.List = d.Templating.List[1:] }, "variable datasource"},
		"app not refreshed":      {func(d *dashboard.Dashboard) { d.Templating.List[1].Refresh = nil }, "variable app"},
		"no description":         {func(d *dashboard.Dashboard) { firstPanel(d).Description = nil }, "no description"},
		"no unit":                {func(d *dashboard.Dashboard) { firstPanel(d).FieldConfig.Defaults.Unit = nil }, `unit ""`},
		"unknown unit":           {func(d *dashboard.Dashboard) { firstPanel(d).FieldConfig.Defaults.Unit = ptr("seconds") }, `unit "seconds"`},
		"fixed panel datasource": {func(d *dashboard.Dashboard) { firstPanel(d).Datasource = &other }, "datasource: use"},
		"fixed target datasource": {func(d *dashboard.Dashboard) {
			firstPanel(d).Targets[0].(*prometheus.Dataquery).Datasource = &other
		}, "target A: datasource"},
		"duplicate title": {func(d *dashboard.Dashboard) {
			var ps []*dashboard.Panel
			for _, p := range d.Panels {
				if p.Panel != nil {
					ps = append(ps, p.Panel)
				}
			}
			ps[1].Title = ps[0].Title
		}, "title used twice"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d, err := decodeStrict(raw)
			require.NoError(t, err)
			require.Empty(t, lint("overview", d, units))
			tc.edit(&d)
			require.ErrorContains(t, errors.Join(lint("overview", d, units)...), tc.want)
		})
	}
}

func ptr[T any](v T) *T { return &v }
