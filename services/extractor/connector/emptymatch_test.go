package connector_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

func patterns(t *testing.T, f connector.Filters) []connector.Pattern {
	t.Helper()
	c, err := f.Compile()
	require.NoError(t, err)
	return c.All()
}

func TestEmptyMatchFailsIncludePatternsThatMatchNothing(t *testing.T) {
	ps := patterns(t, connector.Filters{IncludeSchemas: []string{`db\.nosuch`, `db\.sales`}, ExcludeTables: []string{`x\.y`}})
	checks := []connector.Check{
		{Name: "authentication", Status: connector.Pass},
		connector.FilterCheck(ps[0], 0),  // include, nothing: the mistake
		connector.FilterCheck(ps[1], 3),  // include, matches
		connector.FilterCheck(ps[2], 0),  // exclude, nothing: harmless
		connector.FilterCheck(ps[0], -1), // could not count: not known to be empty
	}
	for i := range checks[1:] {
		checks[i+1].Status, checks[i+1].Detail = connector.Warn, "detail naming the pattern"
	}
	checks[2].Status = connector.Pass
	require.True(t, checks[1].MatchedNothing())
	require.False(t, checks[2].MatchedNothing())
	require.False(t, checks[3].MatchedNothing(), "an exclude pattern that matches nothing excludes nothing")
	require.False(t, checks[4].MatchedNothing(), "unknown is not empty")
	require.Equal(t, `db\.nosuch`, checks[1].Pattern)
	require.Equal(t, "include_schemas", checks[1].Filter)

	strict := connector.EmptyMatch{AllowHint: "set allow_empty_match: true"}.Filters(checks)
	require.True(t, connector.Failed(strict))
	require.Equal(t, connector.Fail, strict[1].Status)
	require.Equal(t, "detail naming the pattern", strict[1].Detail)
	require.Contains(t, strict[1].Remediation, "set allow_empty_match: true")
	for _, i := range []int{0, 2, 3, 4} {
		require.Equal(t, checks[i], strict[i], "check %d unchanged", i)
	}
	require.Equal(t, connector.Warn, checks[1].Status, "the input is not modified")

	lenient := connector.EmptyMatch{Allow: true, AllowHint: "x"}.Filters(checks)
	require.False(t, connector.Failed(lenient))
	require.Equal(t, checks, lenient)
}

func TestEmptyMatchTables(t *testing.T) {
	e := connector.EmptyMatch{AllowHint: "pass --allow-empty"}
	require.Equal(t, connector.Pass, e.Tables(3).Status)
	none := e.Tables(0)
	require.Equal(t, connector.Fail, none.Status)
	require.Equal(t, connector.CheckEmptySelection, none.Name)
	require.Contains(t, none.Detail, "select no table")
	require.Contains(t, none.Remediation, "pass --allow-empty")
	e.Allow = true
	require.Equal(t, connector.Warn, e.Tables(0).Status)
}
