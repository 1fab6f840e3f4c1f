package grafana

import (
	"github.com/grafana/grafana-foundation-sdk/go/units"

	m "github.com/secure-agent/secure-agent/libs/metricdef"
)

func sources() boardSpec {
	stmt := m.SourceStatements.Name
	return boardSpec{
		name:  "sources",
		uid:   "secure-agent-sources",
		title: "secure-agent / Sources",
		description: "The catalog statements the connectors run against the sources: rate, errors and duration by " +
			"connector and statement name, connections and preflights, and the secret-store reads for credentials.",
		rows: []rowSpec{
			{title: "Statements", panels: []panelSpec{
				{kind: timeseriesPanel, title: "Statements", unit: units.OpsPerSecond, width: 12,
					description: "Catalog statements run per second, by connector and statement name (a fixed set per connector, docs/connectors.md).",
					targets: []target{{expr: sumBy("connector, statement", rate(stmt)),
						legend: "{{connector}} {{statement}}", when: Always}}},
				{kind: timeseriesPanel, title: "Statement errors", unit: units.Short, width: 12,
					description: "Catalog statements that failed in each interval, by connector and statement name.",
					targets: []target{{expr: sumBy("connector, statement", increase(stmt, `result="error"`)),
						legend: "{{connector}} {{statement}}", when: Failure}}},
				{kind: timeseriesPanel, title: "Statement duration p50", unit: units.Seconds, width: 12,
					description: "Median duration of catalog statements, from sending to the last row read, by connector and statement name.",
					targets: []target{{expr: quantile("0.5", m.SourceStatementDuration.Name, "connector, statement"),
						legend: "{{connector}} {{statement}}", when: Always}}},
				{kind: timeseriesPanel, title: "Statement duration p95", unit: units.Seconds, width: 12,
					description: "95th percentile duration of catalog statements, by connector and statement name.",
					targets: []target{{expr: quantile("0.95", m.SourceStatementDuration.Name, "connector, statement"),
						legend: "{{connector}} {{statement}}", when: Always}}},
				{kind: timeseriesPanel, title: "Statement error ratio", unit: units.PercentUnit, width: 12,
					description: "Failed statements over all statements per connector (no value while a connector runs none).",
					targets: []target{{expr: sumBy("connector", rate(stmt, `result="error"`)) + " / " + sumBy("connector", rate(stmt)),
						legend: "{{connector}}", when: Always}}},
			}},
			{title: "Connections", panels: []panelSpec{
				{kind: timeseriesPanel, title: "Connections opened", unit: units.Short,
					description: "Connections opened to sources in each interval, by connector and result (ok, error).",
					targets: []target{{expr: sumBy("connector, result", increase(m.SourceConnections.Name)),
						legend: "{{connector}} {{result}}", when: Always}}},
				{kind: timeseriesPanel, title: "Connection errors", unit: units.Short,
					description: "Connections to sources that failed in each interval, by connector: wrong address, credentials or TLS settings.",
					targets: []target{{expr: sumBy("connector", increase(m.SourceConnections.Name, `result="error"`)),
						legend: "{{connector}}", when: Failure}}},
				{kind: timeseriesPanel, title: "Preflights", unit: units.Short,
					description: "Preflights (source checks before a job extracts) answered in each interval, by result (ok, failed, invalid).",
					targets: []target{{expr: sumBy("result", increase(m.ExtractorPreflights.Name)),
						legend: "{{result}}", when: Always}}},
			}},
			{title: "Secrets", panels: []panelSpec{
				{kind: timeseriesPanel, title: "Secret reads", unit: units.Short, width: 12,
					description: "Secrets the apps read from Dapr secret stores in each interval, by app, store and result (ok, not_found, denied, error). Never the key.",
					targets: []target{{expr: sumBy("app, store, result", increase(m.SecretReads.Name)),
						legend: "{{app}} {{store}} {{result}}", when: Always}}},
				{kind: timeseriesPanel, title: "Secret read failures", unit: units.Short, width: 12,
					description: "Secret reads that did not return the secret in each interval, by app, store and result.",
					targets: []target{{expr: sumBy("app, store, result", increase(m.SecretReads.Name, `result!="ok"`)),
						legend: "{{app}} {{store}} {{result}}", when: Always}}},
			}},
		},
	}
}
