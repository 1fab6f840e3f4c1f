package stack

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSecretsFileProblemsNameFileLineAndFix(t *testing.T) {
	const sample = "deploy/local/secrets.sample.json"
	tests := []struct {
		name, body string
		want       []string
	}{
		{"missing comma", "{\n  \"a\": \"hunter2\"\n  \"b\": \"x\"\n}\n", []string{"is not valid JSON: line 3, column 3", `after object key:value pair`}},
		{"unquoted value", "{\n  \"a\": hunter2\n}\n", []string{"line 2, column 8", "(a character not allowed here)"}},
		{"cut short", "{\"a\": \"hunter2\"", []string{"is not valid JSON: line 1, column 15", "unexpected end of JSON input"}},
		{"an array", `["hunter2"]`, []string{"must hold one JSON object, not a JSON array"}},
		{"null", `null`, []string{"holds null, not a JSON object"}},
		{"a name twice once nested", `{"db": {"password": "hunter2"}, "db:password": "hunter2"}`, []string{`names a secret twice once nested keys are joined with ":": db:password`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "secrets.json")
			require.NoError(t, os.WriteFile(f, []byte(tt.body), 0o600))
			err := validateSecretsFile(f, sample)
			require.Error(t, err)
			require.Contains(t, err.Error(), "secret file "+f)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
			require.Contains(t, err.Error(), "move it aside and the launcher writes a fresh one from that sample")
			require.Contains(t, err.Error(), sample)
			require.NotContains(t, err.Error(), "hunter2", "a message never quotes a secret")
			require.NotContains(t, err.Error(), "'h'", "not even its first character")
		})
	}

	require.NoError(t, validateSecretsFile(filepath.Join("..", "secrets.sample.json"), sample), "the sample is valid")
	nested := filepath.Join(t.TempDir(), "secrets.json")
	require.NoError(t, os.WriteFile(nested, []byte(`{"db": {"password": "x", "hosts": ["a", "b"]}, "n": 3, "ok": true}`), 0o600))
	require.NoError(t, validateSecretsFile(nested, sample), "nested objects, arrays, numbers and booleans are what the store accepts")

	err := validateSecretsFile(filepath.Join(t.TempDir(), "missing.json"), sample)
	require.ErrorContains(t, err, "missing.json cannot be read")
}
