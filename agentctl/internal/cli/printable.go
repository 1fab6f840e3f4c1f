package cli

import (
	"fmt"
	"reflect"
	"strings"
	"unicode"
)

// printable escapes what a terminal would act on instead of print: every
// control character (ESC, CR, BEL, C1 controls, ...) but the line break,
// and the bidirectional-text controls that reorder what is shown. Job
// names, connections and errors may come from a spec leased from a remote
// control plane; printed raw they could rewrite the operator's screen.
func printable(s string) string {
	if !strings.ContainsFunc(s, unsafeRune) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unsafeRune(r) {
			fmt.Fprintf(&b, `\u%04x`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	return r != '\n' && (unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r) ||
		r == unicode.ReplacementChar)
}

// makePrintable applies printable to every string reachable from v (a
// pointer to a decoded answer): struct fields, slices, maps (keys too) and
// pointers, so a field added to the API later is covered as well. Raw JSON
// ([]byte) is left alone: it is re-encoded, which escapes control
// characters, before it is printed.
func makePrintable(v any) {
	walkPrintable(reflect.ValueOf(v))
}

func walkPrintable(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkPrintable(v.Elem())
		}
	case reflect.String:
		if v.CanSet() {
			v.SetString(printable(v.String()))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() || f.Kind() == reflect.Pointer || f.Kind() == reflect.Slice || f.Kind() == reflect.Map {
				walkPrintable(f)
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		for i := range v.Len() {
			walkPrintable(v.Index(i))
		}
	case reflect.Map:
		if v.IsNil() {
			return
		}
		clean := reflect.MakeMapWithSize(v.Type(), v.Len())
		iter := v.MapRange()
		for iter.Next() {
			k := reflect.New(v.Type().Key()).Elem()
			k.Set(iter.Key())
			walkPrintable(k)
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(iter.Value())
			walkPrintable(e)
			clean.SetMapIndex(k, e)
		}
		if v.CanSet() {
			v.Set(clean)
		}
	}
}
