package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
)

// TestRunWaitAndStatusShowPreflightWarnings: a job whose include filter
// matched nothing fails naming the pattern; warnings are printed by
// run --wait before the verdict and by status in their own section.
func TestRunWaitAndStatusShowPreflightWarnings(t *testing.T) {
	f := newFakeOrchestrator(t)
	env := map[string]string{orchestratorEnv: f.url()}

	r := runJob(t, jobRun{env: env}, "run", specFile(t, "nomatch"), "--wait", "--poll", "100ms")
	require.Equal(t, ExitFailure, r.code, r.stderr)
	out := lines(r.stdout)
	require.Equal(t, `warning: preflight check filter exclude_tables ^(?:main\.nope)$: filter exclude_tables "main\\.nope" matches no tables in /data/demo.db — remove the filter`, out[len(out)-2])
	require.True(t, strings.HasPrefix(out[len(out)-1], `job j-1 failed: preflight check filter include_tables ^(?:main\.nosuch)$ failed: filter include_tables "main\\.nosuch" matches no tables`), out[len(out)-1])
	require.Contains(t, out[len(out)-1], "allow_empty_match: true")

	r = runJob(t, jobRun{env: env}, "run", specFile(t, "warned"), "--wait", "--poll", "100ms")
	require.Equal(t, ExitOK, r.code, r.stderr)
	out = lines(r.stdout)
	require.Equal(t, `warning: preflight check filter include_tables ^(?:main\.nosuch)$: filter include_tables "main\\.nosuch" matches no tables — check the pattern`, out[1])
	require.Equal(t, "job j-2 succeeded: 1234 assets in 3.2s", out[len(out)-1])

	// --json keeps stdout JSON: the warnings are in the status, and printed on stderr.
	r = runJob(t, jobRun{env: env}, "run", specFile(t, "warned"), "--wait", "--json", "--poll", "100ms")
	require.Equal(t, ExitOK, r.code, r.stderr)
	var st job.Status
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st))
	require.Len(t, st.Warnings, 1)
	require.Contains(t, r.stderr, `warning: preflight check filter include_tables`)

	r = runJob(t, jobRun{env: env}, "status", "j-1")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "\nwarnings:\n  - preflight check filter exclude_tables ^(?:main\\.nope)$: ")
	require.Contains(t, r.stdout, "\nerrors:\n  - preflight check filter include_tables ^(?:main\\.nosuch)$ failed: ")
	r = runJob(t, jobRun{env: env}, "status", "j-2")
	require.Contains(t, r.stdout, "\nwarnings:\n  - preflight check filter include_tables")
	require.NotContains(t, r.stdout, "errors:")
}
