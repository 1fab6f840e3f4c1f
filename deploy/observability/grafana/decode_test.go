package grafana

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/stretchr/testify/require"
)

// The SDK decodes a panel's options, custom field config and targets by
// the panel's type and the target's data source type, from variants
// registered at run time; without them it decodes into untyped maps and
// accepts anything. Register the ones the dashboards use, and only those:
// decodeStrict refuses any other panel type.
var registerVariants = sync.OnceFunc(func() {
	rt := cog.NewRuntime()
	rt.RegisterPanelcfgVariant(timeseries.VariantConfig())
	rt.RegisterPanelcfgVariant(stat.VariantConfig())
	rt.RegisterPanelcfgVariant(table.VariantConfig())
	rt.RegisterDataqueryVariant(prometheus.VariantConfig())
})

var panelTypes = map[string]bool{"row": true, "timeseries": true, "stat": true, "table": true}

// decodeStrict decodes a dashboard so that any field the SDK's types do
// not know is an error. Three layers, because each alone leaves holes:
//
//  1. encoding/json with DisallowUnknownFields. It checks the dashboard's
//     own fields and stops at panels: PanelOrRowPanel and Panel have an
//     UnmarshalJSON that decodes with plain json.Unmarshal (into the
//     registered typed options, field config and targets).
//  2. the SDK's UnmarshalJSONStrict, which refuses unknown fields in
//     panels, targets, options, mappings and custom field config. It is a
//     validator only: in v0.0.22 its generated decoders return an empty
//     cog.BuildErrors as a non-nil error when nothing failed, and callers
//     that check `err != nil` then drop the value they decoded (rows,
//     targets, options, mappings) while the real errors still come
//     through. sdkError tells the empty error from a real one.
//  3. a round trip: the value of layer 1 marshalled again must equal the
//     input, so any field its plain json.Unmarshal dropped (a panel's
//     fieldConfig.defaults, which layer 2 does not check either) shows up
//     as a difference.
func decodeStrict(raw []byte) (dashboard.Dashboard, error) {
	registerVariants()
	var d dashboard.Dashboard
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return dashboard.Dashboard{}, fmt.Errorf("decode: %w", err)
	}
	var strict dashboard.Dashboard
	if err := sdkError(strict.UnmarshalJSONStrict(raw)); err != nil {
		return dashboard.Dashboard{}, fmt.Errorf("strict decode: %w", err)
	}
	again, err := json.Marshal(d)
	if err != nil {
		return dashboard.Dashboard{}, err
	}
	var in, out any
	if err := json.Unmarshal(raw, &in); err != nil {
		return dashboard.Dashboard{}, err
	}
	if err := json.Unmarshal(again, &out); err != nil {
		return dashboard.Dashboard{}, err
	}
	if path := firstDifference("", in, out); path != "" {
		return dashboard.Dashboard{}, fmt.Errorf("round trip through the SDK's types changes %s: a field they do not know", path)
	}
	// Every panel's options and targets were checked by their own types.
	for i, p := range d.Panels {
		typ := "row"
		if p.Panel != nil {
			typ = p.Panel.Type
		}
		if !panelTypes[typ] {
			return dashboard.Dashboard{}, fmt.Errorf("panels[%d]: type %q, whose options are not checked here", i, typ)
		}
		if p.Panel == nil {
			continue
		}
		for j, t := range p.Panel.Targets {
			if _, ok := t.(*prometheus.Dataquery); !ok {
				return dashboard.Dashboard{}, fmt.Errorf("panels[%d].targets[%d]: decoded as %T, not a Prometheus query", i, j, t)
			}
		}
	}
	return d, nil
}

// sdkError is err, or nil for the empty cog.BuildErrors the SDK's strict
// decoders return (as a non-nil error) when nothing failed.
func sdkError(err error) error {
	var be cog.BuildErrors
	if errors.As(err, &be) && len(be) == 0 {
		return nil
	}
	return err
}

// firstDifference is the JSON path of the first difference between a and
// b, or "". An empty array and null are the same (the SDK's strict
// decoders turn a row's "panels": [] into a nil slice).
func firstDifference(path string, a, b any) string {
	if isEmpty(a) && isEmpty(b) {
		return ""
	}
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			return or(path, ".")
		}
		for k, x := range av {
			y, ok := bv[k]
			if !ok {
				return path + "." + k
			}
			if d := firstDifference(path+"."+k, x, y); d != "" {
				return d
			}
		}
		for k := range bv {
			if _, ok := av[k]; !ok {
				return path + "." + k
			}
		}
		return ""
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return or(path, ".")
		}
		for i := range av {
			if d := firstDifference(fmt.Sprintf("%s[%d]", path, i), av[i], bv[i]); d != "" {
				return d
			}
		}
		return ""
	default:
		if !reflect.DeepEqual(a, b) {
			return or(path, ".")
		}
		return ""
	}
}

func isEmpty(v any) bool {
	a, ok := v.([]any)
	return v == nil || ok && len(a) == 0
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// committedBoards decodes every committed dashboard of this folder.
func committedBoards(t *testing.T) map[string]dashboard.Dashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(boardsDir, "*.json"))
	require.NoError(t, err)
	out := map[string]dashboard.Dashboard{}
	for _, f := range files {
		if filepath.Base(f) == manifest {
			continue
		}
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		d, err := decodeStrict(raw)
		require.NoError(t, err, f)
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = d
	}
	require.Len(t, out, 5, "five dashboards")
	return out
}

func TestCommittedDashboardsDecodeStrictly(t *testing.T) {
	committedBoards(t)
}

// Each layer of decodeStrict is needed: an unknown field anywhere fails.
func TestDecodeStrictRefusesUnknownFields(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(boardsDir, "overview.json"))
	require.NoError(t, err)
	var base map[string]any
	require.NoError(t, json.Unmarshal(raw, &base))
	firstOf := func(d map[string]any, typ string) map[string]any {
		for _, p := range d["panels"].([]any) {
			if pm := p.(map[string]any); pm["type"] == typ {
				return pm
			}
		}
		t.Fatalf("no %s panel", typ)
		return nil
	}
	cases := map[string]func(d map[string]any){
		"dashboard": func(d map[string]any) { d["refreshh"] = "1m" },
		"variable": func(d map[string]any) {
			d["templating"].(map[string]any)["list"].([]any)[1].(map[string]any)["regexx"] = "x"
		},
		"panel": func(d map[string]any) { firstOf(d, "timeseries")["descriptoin"] = "x" },
		"target": func(d map[string]any) {
			firstOf(d, "timeseries")["targets"].([]any)[0].(map[string]any)["exprr"] = "up"
		},
		"options":                           func(d map[string]any) { firstOf(d, "stat")["options"].(map[string]any)["textModee"] = "x" },
		"fieldConfig.defaults (round trip)": func(d map[string]any) { fieldDefaults(firstOf(d, "timeseries"))["unitt"] = "s" },
		"custom field config": func(d map[string]any) {
			fieldDefaults(firstOf(d, "timeseries"))["custom"].(map[string]any)["lineWidht"] = 2
		},
		"value mapping": func(d map[string]any) {
			fieldDefaults(firstOf(d, "stat"))["mappings"].([]any)[0].(map[string]any)["optoins"] = map[string]any{}
		},
		"unknown panel type": func(d map[string]any) { firstOf(d, "stat")["type"] = "piechart" },
		"target of another data source": func(d map[string]any) {
			p := firstOf(d, "timeseries")
			delete(p, "datasource")
			p["targets"].([]any)[0].(map[string]any)["datasource"] = map[string]any{"type": "loki", "uid": "x"}
		},
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			var d map[string]any
			require.NoError(t, json.Unmarshal(raw, &d))
			edit(d)
			edited, err := json.Marshal(d)
			require.NoError(t, err)
			_, err = decodeStrict(edited)
			require.Error(t, err)
			t.Log(err)
		})
	}
	_, err = decodeStrict(raw)
	require.NoError(t, err, "the unedited dashboard decodes")
}

func fieldDefaults(panel map[string]any) map[string]any {
	return panel["fieldConfig"].(map[string]any)["defaults"].(map[string]any)
}
