package job

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func validSpec() string {
	return "version: 1\nconnection: default/postgres/1\nsource:\n  kind: postgres\n  dsn: postgres://reader@db:5432/app\n"
}

func TestControlCharactersAreRefusedWherever(t *testing.T) {
	for name, c := range map[string]struct{ extra, where string }{
		"ESC in the name":        {"name: \"evil\\e[2J\"\n", "name: contains the control character U+001B"},
		"CR in the connection":   {"", ""},
		"ESC in a filter":        {"filters:\n  include_tables: [\"a\\e]0;x\\ab\"]\n", "filters.include_tables[0]: contains the control character U+001B"},
		"NUL in a database":      {"", ""},
		"bidi override in name":  {"name: \"job\\u202Eexe\"\n", "bidirectional-text control U+202E"},
		"line separator in name": {"name: \"a\\u2028b\"\n", "U+2028"},
	} {
		t.Run(name, func(t *testing.T) {
			spec := validSpec() + c.extra
			switch name {
			case "CR in the connection":
				spec = strings.Replace(spec, "connection: default/postgres/1", "connection: \"default/postgres/1\\rFAKE\"", 1)
				c.where = "connection: contains the control character U+000D"
			case "NUL in a database":
				spec = strings.Replace(spec, "  kind: postgres\n", "  kind: postgres\n  databases: [\"a\\0b\"]\n", 1)
				c.where = "source.databases[0]: contains the control character U+0000"
			}
			_, err := ParseSpec([]byte(spec))
			require.ErrorContains(t, err, c.where)
		})
	}
	// The DSN's value is never echoed, even when it is what is wrong.
	_, err := ParseSpec([]byte(strings.Replace(validSpec(), "dsn: postgres://reader@db:5432/app", "dsn: \"postgres://reader@db/app?x=SECRET\\e\"", 1)))
	require.ErrorContains(t, err, "source.dsn: contains the control character U+001B")
	require.NotContains(t, err.Error(), "SECRET")

	_, err = ParseSpec([]byte(validSpec() + "name: \"tab\\there\"\n"))
	require.ErrorContains(t, err, "U+0009", "a tab is a control character too")
	_, err = ParseSpec([]byte(validSpec() + "name: \"ünïcödé ok\"\n"))
	require.NoError(t, err)
}

func TestInvalidUTF8IsRefused(t *testing.T) {
	_, err := ParseSpec([]byte(`{"version":1,"connection":"default/postgres/1","source":{"kind":"postgres","dsn":"postgres://r@db/x"},"name":"a` + "\xff" + `b"}`))
	require.ErrorContains(t, err, "not valid UTF-8 (first bad byte at offset 111)")
	require.NotContains(t, err.Error(), "\xff")
}

func TestOneSizeLimitForTheWrittenAndTheEncodedSpec(t *testing.T) {
	// Under the limit as YAML, over it once written as JSON with defaults:
	// refused at submission instead of later by the extractor.
	var b strings.Builder
	b.WriteString(validSpec())
	b.WriteString("filters:\n  include_tables:\n")
	for i := 0; b.Len() < MaxSpecBytes-40; i++ {
		fmt.Fprintf(&b, "  - t%d\n", i) // JSON spends ~3 bytes more per pattern
	}
	require.LessOrEqual(t, b.Len(), MaxSpecBytes)
	_, err := ParseSpec([]byte(b.String()))
	require.Error(t, err)
	msg := err.Error()
	require.True(t, strings.Contains(msg, "once written as JSON") || strings.Contains(msg, "patterns; the limit is"), msg)

	_, err = ParseSpec([]byte(strings.Repeat(" ", MaxSpecBytes+1)))
	require.ErrorContains(t, err, fmt.Sprintf("the limit is %d", MaxSpecBytes))
}

func TestListCountsAreBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(validSpec())
	b.WriteString("exclude_fields: [")
	for i := range MaxExcludeFields + 1 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "comment")
	}
	b.WriteString("]\n")
	_, err := ParseSpec([]byte(b.String()))
	require.ErrorContains(t, err, fmt.Sprintf("exclude_fields: %d fields; the limit is %d", MaxExcludeFields+1, MaxExcludeFields))
}
