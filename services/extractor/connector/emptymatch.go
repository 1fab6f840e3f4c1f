package connector

import (
	"fmt"
	"strings"
)

// CheckEmptySelection names the check of a selection that holds no table.
const CheckEmptySelection = "selection"

// FilterCheck starts the check of pattern p that matched `matches` names
// (negative: they could not be counted); the connector fills in Status,
// Detail and Remediation.
func FilterCheck(p Pattern, matches int) Check {
	c := Check{Name: "filter " + p.Where + " " + p.Anchored(), Filter: p.Where, Pattern: p.Source}
	if matches >= 0 {
		c.Matches = &matches
	}
	return c
}

// MatchedNothing reports whether c is the check of an include pattern that
// matched no name: the filter keeps nothing of what it was written for,
// which is almost always a mistyped pattern.
func (c Check) MatchedNothing() bool {
	return strings.HasPrefix(c.Filter, "include_") && c.Matches != nil && *c.Matches == 0
}

// EmptyMatch decides what a selection that matches nothing does to a run:
// by default it fails, so a mistyped filter never looks like a successful
// extraction of nothing; Allow keeps it a warning. AllowHint says how the
// user allows it ("set allow_empty_match: true in the job spec").
type EmptyMatch struct {
	Allow     bool
	AllowHint string
}

// Filters returns checks with every include pattern that matched nothing
// failed unless Allow (the connector's detail names the pattern).
func (e EmptyMatch) Filters(checks []Check) []Check {
	out := make([]Check, len(checks))
	for i, c := range checks {
		if c.MatchedNothing() && !e.Allow {
			c.Status = Fail
			c.Remediation = joinRemedies(c.Remediation, "or, if an empty match is expected, "+e.AllowHint)
		}
		out[i] = c
	}
	return out
}

// Tables is the check of a selection of n tables and views: a pass, or,
// for none, a failure unless Allow (then a warning).
func (e EmptyMatch) Tables(n int) Check {
	c := Check{Name: CheckEmptySelection, Status: Pass, Detail: fmt.Sprintf("the run selects %d table(s) and view(s)", n)}
	if n > 0 {
		return c
	}
	c.Status, c.Detail = Warn, "the databases and filters select no table or view: the run would extract no table"
	c.Remediation = "check source.databases and the filters"
	if !e.Allow {
		c.Status = Fail
		c.Remediation = joinRemedies(c.Remediation, "or, if an empty source is expected, "+e.AllowHint)
	}
	return c
}

// Failed reports whether any check failed.
func Failed(checks []Check) bool {
	for _, c := range checks {
		if c.Status == Fail {
			return true
		}
	}
	return false
}

func joinRemedies(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
