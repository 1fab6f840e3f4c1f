package grafana

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

type cogDataquery = variants.Dataquery

func query(t target, ref string, kind panelKind) *prometheus.DataqueryBuilder {
	q := prometheus.NewDataqueryBuilder().
		Datasource(datasource()).
		RefId(ref).
		Expr(t.expr).
		EditorMode(prometheus.QueryEditorModeCode)
	if t.legend != "" {
		q.LegendFormat(t.legend)
	}
	switch {
	case kind == tablePanel:
		q.Instant().Format(prometheus.PromQueryFormatTable)
	case t.instant:
		q.Instant()
	default:
		q.Range()
	}
	return q
}

// thresholds: green, or green then red from red (when red > 0).
func thresholds(red float64) *dashboard.ThresholdsConfigBuilder {
	steps := []dashboard.Threshold{{Value: nil, Color: "green"}}
	if red > 0 {
		steps = append(steps, dashboard.Threshold{Value: cog.ToPtr(red), Color: "red"})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps)
}

func upDownMappings() []dashboard.ValueMapping {
	return []dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{
		Type: dashboard.MappingTypeValueToText,
		Options: map[string]dashboard.ValueMappingResult{
			"0": {Text: cog.ToPtr("DOWN"), Color: cog.ToPtr("red"), Index: cog.ToPtr[int32](0)},
			"1": {Text: cog.ToPtr("UP"), Color: cog.ToPtr("green"), Index: cog.ToPtr[int32](1)},
		},
	}}}
}

func timeseriesBuilder(id uint32, p panelSpec, w, h uint32, targets []cog.Builder[cogDataquery]) *timeseries.PanelBuilder {
	b := timeseries.NewPanelBuilder().
		Id(id).
		Title(p.title).
		Description(p.description).
		Datasource(datasource()).
		Unit(p.unit).
		Span(w).
		Height(h).
		Targets(targets).
		Min(0).
		FillOpacity(10).
		LineWidth(1).
		ShowPoints(common.VisibilityModeNever).
		Thresholds(thresholds(0)).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true).
			Calcs([]string{"lastNotNull", "max"})).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderDescending))
	if p.noValue != "" {
		b.NoValue(p.noValue)
	}
	return b
}

func statBuilder(id uint32, p panelSpec, w, h uint32, targets []cog.Builder[cogDataquery]) *stat.PanelBuilder {
	b := stat.NewPanelBuilder().
		Id(id).
		Title(p.title).
		Description(p.description).
		Datasource(datasource()).
		Unit(p.unit).
		Span(w).
		Height(h).
		Targets(targets).
		GraphMode(common.BigValueGraphModeNone).
		TextMode(common.BigValueTextModeValueAndName).
		ColorMode(common.BigValueColorModeBackground).
		Orientation(common.VizOrientationAuto).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Values(false))
	if p.upDown {
		b.Mappings(upDownMappings()).Thresholds(thresholds(0))
	} else {
		b.Thresholds(thresholds(0)).ColorMode(common.BigValueColorModeNone)
	}
	if p.noValue != "" {
		b.NoValue(p.noValue)
	}
	return b
}

func tableBuilder(id uint32, p panelSpec, w, h uint32, targets []cog.Builder[cogDataquery]) *table.PanelBuilder {
	b := table.NewPanelBuilder().
		Id(id).
		Title(p.title).
		Description(p.description).
		Datasource(datasource()).
		Unit(p.unit).
		Span(w).
		Height(h).
		Targets(targets).
		Thresholds(thresholds(0)).
		Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{"sum"})).
		// A table of a query's labels: the value and time columns say nothing.
		WithTransformation(dashboard.DataTransformerConfig{
			Id: "organize",
			Options: map[string]any{
				"excludeByName": map[string]any{"Time": true, "Value": true, "__name__": true},
			},
		})
	if p.noValue != "" {
		b.NoValue(p.noValue)
	}
	return b
}
