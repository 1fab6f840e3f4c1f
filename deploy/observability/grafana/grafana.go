// Package grafana builds secure-agent's Grafana dashboards with the
// grafana-foundation-sdk, from the metric names in libs/metricdef and the
// names Dapr's sidecar exports (dapr.go). Its tests write them to this
// folder and to the chart (charts/secure-agent/files/dashboards/) with
// `go test ./grafana -update`, and fail when a committed copy differs from
// what this code builds, when a panel breaks a lint rule, or when a query
// selects a metric or label nobody exports.
package grafana

import (
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// When is the phase of the live end-to-end run from which a query must
// return data (README.md).
type When string

const (
	// Always: in a healthy stack once one job succeeded, and every phase after.
	Always When = "always"
	// Failure: once a job failed.
	Failure When = "failure"
	// Kill: while an app is down (it may return nothing before and after).
	Kill When = "kill"
)

// Query is one panel target, as queries.json lists it.
type Query struct {
	Dashboard string `json:"dashboard"`
	Panel     string `json:"panel"`
	Expr      string `json:"expr"`
	When      When   `json:"when"`
}

// Board is one generated dashboard.
type Board struct {
	// Name is its file name without ".json" (and the suffix of its
	// ConfigMap in the chart).
	Name      string
	Dashboard dashboard.Dashboard
	Queries   []Query
}

// JSON is the dashboard as it is committed: indented, with a final newline.
func (b Board) JSON() ([]byte, error) {
	out, err := json.MarshalIndent(b.Dashboard, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("dashboard %s: %w", b.Name, err)
	}
	return append(out, '\n'), nil
}

// Boards builds every dashboard, in a fixed order.
func Boards() ([]Board, error) {
	var out []Board
	for _, spec := range []boardSpec{overview(), pipeline(), sources(), controlPlane(), daprSidecars()} {
		b, err := spec.build()
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// Manifest is queries.json: every target of every dashboard, in order.
func Manifest(boards []Board) ([]byte, error) {
	var qs []Query
	for _, b := range boards {
		qs = append(qs, b.Queries...)
	}
	out, err := json.MarshalIndent(qs, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// Tag every dashboard carries (the dashboards' links list them by it).
const Tag = "secure-agent"

// The template variables every dashboard has.
const (
	// DatasourceVar is the Prometheus data source every panel and target uses.
	DatasourceVar = "datasource"
	// AppVar selects apps by the `app` target label (the Dapr app id).
	AppVar = "app"
)

// appValues lists the apps: the `app` label of the apps' and sidecars'
// targets (not of the Dapr control plane's, which a scrape may label too).
const appValues = `label_values(up{container=~"app|daprd"}, ` + AppVar + `)`

// datasource is the reference every panel and target carries.
func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${" + DatasourceVar + "}")}
}

// boardSpec describes a dashboard: its rows of panels.
type boardSpec struct {
	name, uid, title, description string
	rows                          []rowSpec
}

type rowSpec struct {
	title  string
	panels []panelSpec
}

type panelKind int

const (
	timeseriesPanel panelKind = iota
	statPanel
	tablePanel
)

// panelSpec is one panel: every field but mappings and noValue is required.
type panelSpec struct {
	kind               panelKind
	title, description string
	unit               string
	// width in grid columns (of 24); height 8 unless set.
	width, height uint32
	targets       []target
	// upDown maps 0/1 to DOWN/UP (stat panels of `up`).
	upDown bool
	// noValue is shown when the query returns nothing.
	noValue string
}

type target struct {
	expr, legend string
	when         When
	// instant: one value per series (stat and table panels).
	instant bool
}

func (s boardSpec) build() (Board, error) {
	b := dashboard.NewDashboardBuilder(s.title).
		Uid(s.uid).
		Description(s.description).
		Tags([]string{Tag}).
		Readonly().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Refresh("30s").
		Time("now-3h", "now").
		Timezone(common.TimeZoneBrowser).
		Link(dashboard.NewDashboardLinkBuilder("secure-agent").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{Tag}).
			AsDropdown(true).
			IncludeVars(true).
			KeepTime(true)).
		WithVariable(dashboard.NewDatasourceVariableBuilder(DatasourceVar).
			Label("Data source").
			Type("prometheus")).
		WithVariable(dashboard.NewQueryVariableBuilder(AppVar).
			Label("App").
			Description("Dapr app id of the app and its sidecar (the `app` label of their scrape targets).").
			Query(dashboard.StringOrMap{String: cog.ToPtr(appValues)}).
			Datasource(datasource()).
			Current(dashboard.VariableOption{
				Selected: cog.ToPtr(true),
				Text:     dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
				Value:    dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
			}).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
			Sort(dashboard.VariableSortAlphabeticalAsc).
			Multi(true).
			IncludeAll(true).
			AllValue(".*"))

	board := Board{Name: s.name}
	id := uint32(0)
	for _, r := range s.rows {
		id++
		b.WithRow(dashboard.NewRowBuilder(r.title).Id(id))
		for _, p := range r.panels {
			id++
			pb, err := p.builder(id)
			if err != nil {
				return Board{}, fmt.Errorf("dashboard %s, panel %q: %w", s.name, p.title, err)
			}
			b.WithPanel(pb)
			for _, t := range p.targets {
				board.Queries = append(board.Queries, Query{Dashboard: s.name, Panel: p.title, Expr: t.expr, When: t.when})
			}
		}
	}
	d, err := b.Build()
	if err != nil {
		return Board{}, fmt.Errorf("dashboard %s: %w", s.name, err)
	}
	board.Dashboard = d
	return board, nil
}

func (p panelSpec) builder(id uint32) (cog.Builder[dashboard.Panel], error) {
	if p.title == "" || p.description == "" || p.unit == "" || len(p.targets) == 0 {
		return nil, fmt.Errorf("a panel needs a title, a description, a unit and a target")
	}
	h := p.height
	if h == 0 {
		h = 8
	}
	w := p.width
	if w == 0 {
		w = 8
	}
	var targets []cog.Builder[cogDataquery]
	for i, t := range p.targets {
		if t.when == "" {
			return nil, fmt.Errorf("target %q has no when", t.expr)
		}
		targets = append(targets, query(t, refID(i), p.kind))
	}
	switch p.kind {
	case timeseriesPanel:
		return timeseriesBuilder(id, p, w, h, targets), nil
	case statPanel:
		return statBuilder(id, p, w, h, targets), nil
	case tablePanel:
		return tableBuilder(id, p, w, h, targets), nil
	}
	return nil, fmt.Errorf("unknown panel kind %d", p.kind)
}

func refID(i int) string { return string(rune('A' + i)) }
