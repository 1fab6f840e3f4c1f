package stack

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// secretsNestedSeparator is the local secret store's nestedSeparator
// (components/*/secretstore.yaml): {"a": {"b": "x"}} is the secret "a:b".
const secretsNestedSeparator = ":"

// validateSecretsFile reads the local secret store's file the way
// secretstores.local.file does (one JSON object; nested objects and arrays
// flatten into "a:b" / "a:0" keys, which must be unique), so a broken file
// is reported by name, line and column before a sidecar fails on it with
// neither. No message quotes a value from the file.
func validateSecretsFile(path, sample string) error {
	fix := fmt.Sprintf("fix it (one JSON object of \"name\": \"value\" pairs, like %s), or move it aside and the launcher writes a fresh one from that sample", sample)
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("secret file %s cannot be read: %w", path, errors.Unwrap(err))
	}
	var top map[string]any
	if err := json.Unmarshal(b, &top); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			line, col := lineCol(b, syn.Offset)
			return fmt.Errorf("secret file %s is not valid JSON: line %d, column %d: %s; %s", path, line, col, syntaxReason(syn), fix)
		case errors.As(err, &typ):
			return fmt.Errorf("secret file %s must hold one JSON object, not a JSON %s; %s", path, typ.Value, fix)
		default:
			return fmt.Errorf("secret file %s: %v; %s", path, err, fix)
		}
	}
	if top == nil {
		return fmt.Errorf("secret file %s holds null, not a JSON object; %s", path, fix)
	}
	seen := map[string]bool{}
	var dups []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch t := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(join(prefix, k), t[k])
			}
		case []any:
			for i, e := range t {
				walk(join(prefix, strconv.Itoa(i)), e)
			}
		default:
			if seen[prefix] {
				dups = append(dups, prefix)
			}
			seen[prefix] = true
		}
	}
	walk("", top)
	if len(dups) > 0 {
		return fmt.Errorf("secret file %s names a secret twice once nested keys are joined with %q: %s; rename one of each, %s",
			path, secretsNestedSeparator, strings.Join(dups, ", "), fix)
	}
	return nil
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + secretsNestedSeparator + k
}

// lineCol turns a byte offset (just past the error) into 1-based line and column.
func lineCol(b []byte, off int64) (int, int) {
	off = min(max(off-1, 0), int64(len(b)))
	before := b[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// syntaxReason is encoding/json's reason, except that a quoted character
// that is not JSON punctuation is not repeated: it may be part of a secret.
func syntaxReason(e *json.SyntaxError) string {
	msg := e.Error()
	i := strings.Index(msg, "'")
	if i < 0 {
		return msg
	}
	j := strings.Index(msg[i+1:], "'")
	if j < 0 {
		return msg
	}
	quoted := msg[i+1 : i+1+j]
	if len(quoted) == 1 && strings.Contains("{}[]:,\"", quoted) {
		return msg
	}
	return msg[:i] + "(a character not allowed here)" + msg[i+1+j+1:]
}
