package app

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
)

// TestPlannedCarriesPreflightWarningsIntoTheStatus: a job that goes on
// shows what preflight warned about (a filter that matched nothing but is
// allowed, for example); a job that fails shows its failures as errors
// and its warnings beside them.
func TestPlannedCarriesPreflightWarningsIntoTheStatus(t *testing.T) {
	m := NewMachine(WorkflowInput{JobID: "j-1", Spec: testSpec(2, 1, time.Minute)}, t0)
	require.True(t, m.Planned(job.Preflight{OK: true, Partitions: parts("p000"), Checks: []job.Check{
		{Name: "authentication", Status: "pass", Detail: "ok"},
		{Name: `filter include_tables ^(?:main\.nosuch)$`, Status: "warn",
			Detail: `filter include_tables "main\\.nosuch" matches no tables`, Remediation: "check the pattern"},
	}}))
	st := m.Status()
	require.Equal(t, []string{`preflight check filter include_tables ^(?:main\.nosuch)$: filter include_tables "main\\.nosuch" matches no tables — check the pattern`}, st.Warnings)
	require.Empty(t, st.Errors)

	// The status is a copy: changing it does not change the machine.
	st.Warnings[0] = "changed"
	require.NotEqual(t, "changed", m.Status().Warnings[0])
	var wire job.Status
	require.NoError(t, json.Unmarshal([]byte(m.StatusJSON()), &wire))
	require.Len(t, wire.Warnings, 1)

	failing := NewMachine(WorkflowInput{JobID: "j-2", Spec: testSpec(2, 1, time.Minute)}, t0)
	require.False(t, failing.Planned(job.Preflight{OK: false, Checks: []job.Check{
		{Name: `filter include_schemas ^(?:db\.nosuch)$`, Status: "fail", Detail: `filter include_schemas "db\\.nosuch" matches no schema`,
			Remediation: "fix the pattern; or, if an empty match is expected, set allow_empty_match: true in the job spec"},
		{Name: "lineage", Status: "warn", Detail: "no lineage"},
	}}))
	st = failing.Status()
	require.Equal(t, job.Failed, failing.Outcome())
	require.Len(t, st.Errors, 1)
	require.Contains(t, st.Errors[0], `"db\\.nosuch" matches no schema`)
	require.Contains(t, st.Errors[0], "allow_empty_match: true")
	require.Equal(t, []string{"preflight check lineage: no lineage"}, st.Warnings)

	quiet := planned(t, testSpec(2, 1, time.Minute), "p000")
	require.Nil(t, quiet.Status().Warnings, "no warnings: none in the JSON either")
	require.NotContains(t, quiet.StatusJSON(), "warnings")
}
