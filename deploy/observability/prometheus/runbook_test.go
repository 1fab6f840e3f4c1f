package prometheus

import (
	"bufio"
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const runbooksPath = "../../../docs/runbooks.md"

var (
	headingRe   = regexp.MustCompile(`^#{1,6}\s+(.+?)\s*#*$`)
	slugDropRe  = regexp.MustCompile(`[^\p{L}\p{N} _-]`)
	alertNameRe = regexp.MustCompile(`^SecureAgent[A-Z][A-Za-z]+$`)
)

// anchors returns the anchors GitHub gives the headings of a Markdown page
// (lower case, punctuation dropped, spaces as hyphens; fenced code skipped),
// and the headings themselves.
func anchors(md []byte) (map[string]bool, []string) {
	out := map[string]bool{}
	var headings []string
	fenced := false
	sc := bufio.NewScanner(bytes.NewReader(md))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		m := headingRe.FindStringSubmatch(line)
		if fenced || m == nil {
			continue
		}
		headings = append(headings, m[1])
		slug := strings.ReplaceAll(slugDropRe.ReplaceAllString(strings.ToLower(m[1]), ""), " ", "-")
		out[slug] = true
	}
	return out, headings
}

// Every alert's runbook_url is RunbookBase#<its name in lower case>, and
// docs/runbooks.md has that section; every alert section there is an
// alert; the page has the sections the rule files and runbooks link to.
func TestRunbooksExist(t *testing.T) {
	md, err := os.ReadFile(runbooksPath)
	require.NoError(t, err)
	have, headings := anchors(md)

	alerts := map[string]bool{}
	for _, g := range Rules(Production).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts[r.Alert] = true
			url := r.Annotations["runbook_url"]
			anchor, ok := strings.CutPrefix(url, RunbookBase+"#")
			require.True(t, ok, "%s: runbook_url %q is not under %s", r.Alert, url, RunbookBase)
			require.Equal(t, strings.ToLower(r.Alert), anchor, r.Alert)
			require.True(t, have[anchor], "%s: docs/runbooks.md has no section #%s (a heading `## %s`)", r.Alert, anchor, r.Alert)
		}
	}
	for _, h := range headings {
		if alertNameRe.MatchString(h) {
			require.True(t, alerts[h], "docs/runbooks.md has a section for %s, which is not an alert of the rules", h)
		}
	}
	for _, a := range []string{"labels-the-rules-expect", "tuning", "first-checks"} {
		require.True(t, have[a], "docs/runbooks.md has no section #%s", a)
	}
}

// The anchor check sees a missing section.
func TestAnchorsOfAPage(t *testing.T) {
	have, _ := anchors([]byte("# Runbooks\n\n## SecureAgentAppDown\n\n```sh\n# not a heading\n```\n\n### Labels the rules expect\n"))
	require.Equal(t, map[string]bool{"runbooks": true, "secureagentappdown": true, "labels-the-rules-expect": true}, have)
	require.False(t, have["secureagentsidecardown"])
}
