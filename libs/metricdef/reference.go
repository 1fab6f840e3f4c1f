package metricdef

import (
	"fmt"
	"strings"
)

// Markers around the generated reference in docs/observability.md.
const (
	ReferenceBegin = "<!-- BEGIN metric reference: generated from libs/metricdef; refresh with `go test ./libs/metricdef -update` -->"
	ReferenceEnd   = "<!-- END metric reference -->"
)

// Reference renders the metric reference (Markdown), one table per group.
func Reference() string {
	var b strings.Builder
	b.WriteString(ReferenceBegin + "\n")
	for _, g := range Groups {
		fmt.Fprintf(&b, "\n### %s\n\n", g)
		b.WriteString("| metric | type | labels | apps | meaning |\n|---|---|---|---|---|\n")
		for _, d := range All() {
			if d.Group != g {
				continue
			}
			labels := "—"
			if len(d.Labels) > 0 {
				labels = "`" + strings.Join(d.Labels, "`, `") + "`"
			}
			help := d.Help
			if d.ControlPlane {
				help += " Moves only with a control plane configured."
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", d.Name, d.Type, labels, strings.Join(d.Apps, ", "),
				strings.ReplaceAll(help, "|", `\|`))
		}
	}
	b.WriteString("\n" + ReferenceEnd + "\n")
	return b.String()
}
