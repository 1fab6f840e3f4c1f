package job

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// MaxSpecBytes is the one size limit of a job spec: the document a user
// submits, and the spec as it travels inside the agent (JSON, defaults
// filled in). Real specs are a few KiB; the spec is copied into every
// extract request and the workflow's history, so a big one costs memory
// in every service.
const MaxSpecBytes = 128 << 10

// Limits on the counts of a spec's lists, for the same reason.
const (
	MaxPatterns      = 1000 // all include/exclude filter patterns together
	MaxDatabases     = 1000
	MaxExcludeFields = 200
	MaxDestinations  = 8
)

// checkEncoding refuses a spec document that is not UTF-8: decoders would
// replace the bad bytes silently.
func checkEncoding(data []byte) error {
	if utf8.Valid(data) {
		return nil
	}
	i := 0
	for i < len(data) {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		i += size
	}
	return fmt.Errorf("job spec is not valid UTF-8 (first bad byte at offset %d); save it as UTF-8", i)
}

// checkSize reports a spec whose encoded form is over MaxSpecBytes (a
// YAML document under the limit can grow when written as JSON).
func (s Spec) checkSize() []string {
	b, err := json.Marshal(s)
	if err != nil {
		return []string{"the spec cannot be encoded: " + err.Error()}
	}
	if len(b) > MaxSpecBytes {
		return []string{fmt.Sprintf("the spec is %d bytes once written as JSON; the limit is %d: shorten its lists or patterns", len(b), MaxSpecBytes)}
	}
	return nil
}

// checkCounts bounds the spec's lists.
func (s Spec) checkCounts() []string {
	var p []string
	f := s.Filters
	patterns := len(f.IncludeSchemas) + len(f.ExcludeSchemas) + len(f.IncludeTables) + len(f.ExcludeTables)
	if patterns > MaxPatterns {
		p = append(p, fmt.Sprintf("filters: %d patterns; the limit is %d (combine them with alternation)", patterns, MaxPatterns))
	}
	if n := len(s.Source.Databases); n > MaxDatabases {
		p = append(p, fmt.Sprintf("source.databases: %d databases; the limit is %d (use filters.include_databases patterns)", n, MaxDatabases))
	}
	if n := len(s.ExcludeFields); n > MaxExcludeFields {
		p = append(p, fmt.Sprintf("exclude_fields: %d fields; the limit is %d", n, MaxExcludeFields))
	}
	if n := len(s.Destinations); n > MaxDestinations {
		p = append(p, fmt.Sprintf("destinations: %d destinations; the limit is %d", n, MaxDestinations))
	}
	return p
}

// checkText refuses control characters (ESC, CR, NUL, ...) and invalid
// UTF-8 in every text of the spec: names, DSNs and patterns end up in
// terminals (agentctl status/list), logs and file names, and a spec may
// come from a remote control plane. The walk goes over the spec's JSON
// form, so a field added later is covered too. Values are never echoed (a
// DSN may hold a secret); the field and the character are.
func (s Spec) checkText() []string {
	b, err := json.Marshal(s)
	if err != nil {
		return nil // checkSize reports it
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil
	}
	var p []string
	walkStrings(v, "", func(path, text string) {
		if msg := badText(text); msg != "" {
			p = append(p, path+": "+msg)
		}
	})
	return p
}

// badText describes the first character a spec's text must not hold.
func badText(s string) string {
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return fmt.Sprintf("is not valid UTF-8 (at byte %d)", i)
			}
		case unicode.IsControl(r), r == '\u2028', r == '\u2029':
			return fmt.Sprintf("contains the control character %U at byte %d; remove it (a tab or line break included)", r, i)
		case unicode.Is(unicode.Bidi_Control, r):
			return fmt.Sprintf("contains the bidirectional-text control %U at byte %d; remove it", r, i)
		}
	}
	return ""
}

// walkStrings calls f with the JSON path and value of every string in v,
// map keys included (under the path of their value), in a stable order.
func walkStrings(v any, path string, f func(path, s string)) {
	switch x := v.(type) {
	case string:
		f(path, x)
	case []any:
		for i, e := range x {
			walkStrings(e, path+"["+strconv.Itoa(i)+"]", f)
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			f(p, k)
			walkStrings(x[k], p, f)
		}
	}
}
