package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

func TestUsage(t *testing.T) {
	r := runCLI(t, nil)
	require.Equal(t, ExitUsage, r.code)
	for _, c := range []string{"run", "status", "list", "cancel", "manifest", "extract", "preflight", "export", "version"} {
		require.Contains(t, r.stderr, "agentctl "+c+" — ")
	}
	require.Contains(t, r.stderr, "usage: agentctl run SPEC [flags]")
	require.Contains(t, r.stderr, "usage: agentctl cancel ID [flags]")
	require.Contains(t, r.stderr, "4 the orchestrator is unreachable")
	require.Contains(t, r.stderr, "--dsn")
	require.Contains(t, r.stderr, "--format")

	r = runCLI(t, nil, "help")
	require.Equal(t, ExitOK, r.code)
	require.Contains(t, r.stdout, "agentctl preflight — ")
	require.Contains(t, r.stdout, "--include-table")

	r = runCLI(t, nil, "help", "export")
	require.Equal(t, ExitOK, r.code)
	require.Contains(t, r.stdout, "--in")
	require.NotContains(t, r.stdout, "--dsn")

	r = runCLI(t, nil, "extract", "--help")
	require.Equal(t, ExitOK, r.code)
	require.Contains(t, r.stdout, "--batch-rows")

	r = runCLI(t, nil, "frobnicate")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, `unknown command "frobnicate"`)

	r = runCLI(t, nil, "version")
	require.Equal(t, ExitOK, r.code)
	require.True(t, strings.HasPrefix(r.stdout, "agentctl test-version ("), r.stdout)
}

func TestExtractUsageErrorsListedAtOnce(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{
			name: "nothing given",
			args: []string{"extract"},
			want: []string{"3 problems", "--source is required: one of mysql, postgres, sqlite", "--dsn is required", "--out is required"},
		},
		{
			name: "every kind of mistake",
			args: []string{"extract", "--source", "oracle", "--dsn", "x.db", "--batch-rows", "many", "--bogus",
				"--include", "(", "--exclude-table", "a$", "--temp-tables", "(?P<n>x)", "--exclude-fields", "comment,secret_sauce",
				"--job-id", "bad id", "stray", "--out"},
			want: []string{
				`--source "oracle" is not supported: use one of mysql, postgres, sqlite`,
				`--batch-rows: invalid value "many": not a whole number`,
				"unknown flag --bogus",
				`--include: pattern "(" is not a valid regular expression`,
				"--exclude-table: pattern \"a$\" uses ^ or $",
				"--temp-tables: pattern \"(?P<n>x)\" uses a named group",
				"--exclude-fields: cannot exclude field(s) secret_sauce",
				`--job-id "bad id"`,
				`unexpected argument "stray"`,
				"--out needs a value",
				"--out is required",
			},
		},
		{
			name: "value missing before the next flag",
			args: []string{"extract", "--source", "sqlite", "--dsn", "--out", "/tmp/x"},
			want: []string{"--dsn needs a value (found the flag --out after it)", "--dsn is required"},
		},
		{
			name: "bad batch size and env names",
			args: []string{"extract", "--source", "postgres", "--dsn", "env:1BAD", "--password-env", "A-B", "--batch-rows", "0", "--out", "/tmp/never"},
			want: []string{`"1BAD" is not an environment variable name`, `--password-env "A-B" is not an environment variable name`, `--batch-rows: invalid value "0": must be at least 1`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, nil, tc.args...)
			require.Equal(t, ExitUsage, r.code, r.stderr)
			require.Empty(t, r.stdout)
			for _, w := range tc.want {
				require.Contains(t, r.stderr, w)
			}
			require.Contains(t, r.stderr, "Run 'agentctl help extract'")
		})
	}
}

func TestBadRegexFailsBeforeAnyQuery(t *testing.T) {
	// Nothing listens on port 1: had agentctl connected before validating,
	// it would fail with a connection error (exit 1) instead.
	out := filepath.Join(t.TempDir(), "out")
	r := runCLI(t, nil, "extract", "--source", "postgres", "--dsn", "postgres://postgres@127.0.0.1:1/x?sslmode=disable",
		"--include", "sales[", "--include-table", "a)", "--out", out)
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, `--include: pattern "sales[" is not a valid regular expression`)
	require.Contains(t, r.stderr, `--include-table: pattern "a)" is not a valid regular expression`)
	require.NotContains(t, r.stderr, "connect")
	_, err := os.Stat(out)
	require.ErrorIs(t, err, os.ErrNotExist)

	r = runCLI(t, nil, "preflight", "--source", "postgres", "--dsn", "postgres://postgres@127.0.0.1:1/x?sslmode=disable", "--exclude", "*")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, `--exclude: pattern "*"`)
}

func TestPreflight(t *testing.T) {
	dbFile := sqliteFile(t)
	r := runCLI(t, nil, "preflight", "--source", "sqlite", "--dsn", dbFile)
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Regexp(t, `^CHECK +STATUS +DETAIL +REMEDIATION$`, lines[0])
	require.Greater(t, len(lines), 1)
	require.NotContains(t, r.stdout, "FAIL")

	r = runCLI(t, nil, "preflight", "--source", "sqlite", "--dsn", dbFile, "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	var checks []connector.Check
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &checks))
	require.NotEmpty(t, checks)
	for _, c := range checks {
		require.NotEmpty(t, c.Name)
		require.NotEqual(t, connector.Fail, c.Status, c)
	}

	// A real server passes; one that is not there fails with a
	// remediation, exit 1, in JSON and in the table.
	db := pgDatabase(t, `CREATE TABLE t (id int)`)
	r = runCLI(t, nil, "preflight", "--source", "postgres", "--dsn", pgDSN(db), "--database", db, "--json")
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)

	r = runCLI(t, nil, "preflight", "--source", "postgres", "--dsn", "postgres://postgres@127.0.0.1:1/x?sslmode=disable", "--json")
	require.Equal(t, ExitFailure, r.code)
	checks = nil
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &checks))
	require.NotEmpty(t, checks)
	failed := false
	for _, c := range checks {
		if c.Status == connector.Fail {
			failed = true
			require.NotEmpty(t, c.Remediation, c)
		}
	}
	require.True(t, failed, checks)
	require.Contains(t, r.stderr, "checks failed")

	r = runCLI(t, nil, "preflight", "--source", "postgres", "--dsn", "postgres://postgres@127.0.0.1:1/x?sslmode=disable")
	require.Equal(t, ExitFailure, r.code)
	require.Contains(t, r.stdout, "FAIL")
}

func TestExportErrors(t *testing.T) {
	empty := t.TempDir()
	r := runCLI(t, nil, "export", "--format", "csv", "--in", filepath.Join(empty, "missing"))
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, `--format "csv" is not supported: use entity-jsonl`)
	require.Contains(t, r.stderr, "--in "+filepath.Join(empty, "missing"))
	require.Contains(t, r.stderr, "--out is required")

	// A directory without manifest.json is not an extraction.
	target := filepath.Join(t.TempDir(), "e.jsonl")
	r = runCLI(t, nil, "export", "--in", empty, "--out", target)
	require.Equal(t, ExitFailure, r.code)
	require.True(t, strings.HasPrefix(r.stderr, "agentctl export: "), r.stderr)
	_, err := os.Stat(target)
	require.ErrorIs(t, err, os.ErrNotExist, "a failed export leaves no file")
	entries, err := os.ReadDir(filepath.Dir(target))
	require.NoError(t, err)
	require.Empty(t, entries, "no temporary file is left behind")
}
