package datadog

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/DataDog/datadog-api-client-go/v2/api/datadogV1"
	"github.com/stretchr/testify/require"
)

// The API client decodes leniently: an unknown field lands in the
// object's AdditionalProperties, a value outside an enum or a oneOf that
// matches no (or more than one) variant makes the enclosing object keep
// the raw JSON in UnparsedObject and leave its typed fields empty. Strict
// decoding is decoding plus unparsed() finding none of these anywhere.

// unparsed walks v and lists every place the client did not fully parse.
func unparsed(v any) []string {
	var out []string
	walk(reflect.ValueOf(v), "$", &out, map[uintptr]bool{})
	return out
}

func walk(v reflect.Value, path string, out *[]string, seen map[uintptr]bool) {
	if !v.IsValid() {
		return
	}
	if v.CanInterface() {
		// Enums (string or number types with IsValid) and nullable wrappers
		// (unexported value, exported Get) of the client.
		if e, ok := v.Interface().(interface{ IsValid() bool }); ok && v.Kind() != reflect.Struct && v.Kind() != reflect.Pointer {
			if !e.IsValid() {
				*out = append(*out, fmt.Sprintf("%s: %v is not a value of %s", path, v.Interface(), v.Type()))
			}
			return
		}
		if get := v.MethodByName("Get"); get.IsValid() && get.Type().NumIn() == 0 && get.Type().NumOut() == 1 && v.Kind() == reflect.Struct {
			if isSet := v.MethodByName("IsSet"); isSet.IsValid() {
				walk(get.Call(nil)[0], path, out, seen)
				return
			}
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		if seen[v.Pointer()] {
			return
		}
		seen[v.Pointer()] = true
		walk(v.Elem(), path, out, seen)
	case reflect.Interface:
		if !v.IsNil() {
			walk(v.Elem(), path, out, seen)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i), out, seen)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			walk(v.MapIndex(k), fmt.Sprintf("%s[%v]", path, k), out, seen)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			fv := v.Field(i)
			switch f.Name {
			case "UnparsedObject":
				if !fv.IsZero() && !(fv.Kind() == reflect.Map && fv.Len() == 0) {
					*out = append(*out, fmt.Sprintf("%s: %s not parsed (%s)", path, t.Name(), short(fv.Interface())))
				}
				continue
			case "AdditionalProperties":
				if fv.Len() > 0 {
					var keys []string
					for _, k := range fv.MapKeys() {
						keys = append(keys, k.String())
					}
					*out = append(*out, fmt.Sprintf("%s: %s has no field %s", path, t.Name(), strings.Join(keys, ", ")))
				}
				continue
			}
			walk(fv, path+"."+jsonName(f), out, seen)
		}
	}
}

func jsonName(f reflect.StructField) string {
	if n, _, _ := strings.Cut(f.Tag.Get("json"), ","); n != "" && n != "-" {
		return n
	}
	return f.Name
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 160 {
		return string(b[:160]) + "…"
	}
	return string(b)
}

// decodeDashboard decodes raw strictly: an error for anything the
// client's types do not hold, including a field its decoder drops (the
// value marshalled again must equal the input).
func decodeDashboard(raw []byte) (datadogV1.Dashboard, error) {
	var d datadogV1.Dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		return d, err
	}
	if u := unparsed(d); len(u) > 0 {
		return d, fmt.Errorf("not parsed:\n%s", strings.Join(u, "\n"))
	}
	return d, sameJSON(raw, d)
}

func decodeMonitors(raw []byte) ([]datadogV1.Monitor, error) {
	var ms []datadogV1.Monitor
	if err := json.Unmarshal(raw, &ms); err != nil {
		return nil, err
	}
	if u := unparsed(ms); len(u) > 0 {
		return ms, fmt.Errorf("not parsed:\n%s", strings.Join(u, "\n"))
	}
	return ms, sameJSON(raw, ms)
}

func sameJSON(raw []byte, v any) error {
	again, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var a, b any
	if err := json.Unmarshal(raw, &a); err != nil {
		return err
	}
	if err := json.Unmarshal(again, &b); err != nil {
		return err
	}
	if !reflect.DeepEqual(a, b) {
		return fmt.Errorf("the decoded value does not marshal back to the input: a field was dropped or changed")
	}
	return nil
}

func TestDashboardDecodesStrictly(t *testing.T) {
	raw, err := os.ReadFile("dashboard.json")
	require.NoError(t, err)
	d, err := decodeDashboard(raw)
	require.NoError(t, err)
	require.Equal(t, "secure-agent", d.Title)
	require.NotEmpty(t, d.Widgets)
}

func TestMonitorsDecodeStrictly(t *testing.T) {
	raw, err := os.ReadFile("monitors.json")
	require.NoError(t, err)
	ms, err := decodeMonitors(raw)
	require.NoError(t, err)
	require.NotEmpty(t, ms)
}

// What the strict decoding catches, on variations of the real files.
func TestStrictDecodingCatches(t *testing.T) {
	dash, err := os.ReadFile("dashboard.json")
	require.NoError(t, err)
	mons, err := os.ReadFile("monitors.json")
	require.NoError(t, err)
	for _, tc := range []struct {
		name, file, old, new, want string
	}{
		{"an invalid enum deep down", "dashboard", `"display_type": "bars"`, `"display_type": "columns"`, "not parsed"},
		{"an unknown field", "dashboard", `"show_legend": true`, `"show_legend": true, "legend_rows": 3`, "has no field legend_rows"},
		{"an unknown widget type", "dashboard", `"type": "query_table"`, `"type": "query_tabel"`, "not parsed"},
		{"a dashboard layout that does not exist", "dashboard", `"layout_type": "ordered",
  "reflow_type"`, `"layout_type": "grid",
  "reflow_type"`, "not parsed"},
		{"a monitor type that does not exist", "monitors", `"type": "query alert"`, `"type": "metric alert!"`, "not parsed"},
		{"an unknown monitor option", "monitors", `"include_tags": true`, `"include_tags": true, "notify_on_recovery": true`, "has no field notify_on_recovery"},
		{"a threshold of the wrong type", "monitors", `"critical": 4`, `"critical": "4"`, "not parsed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := dash
			if tc.file == "monitors" {
				src = mons
			}
			require.Contains(t, string(src), tc.old, "the mutation's anchor is gone from %s.json", tc.file)
			bad := []byte(strings.Replace(string(src), tc.old, tc.new, 1))
			if tc.file == "monitors" {
				_, err = decodeMonitors(bad)
			} else {
				_, err = decodeDashboard(bad)
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}
