package datadog

import (
	m "github.com/secure-agent/secure-agent/libs/metricdef"
)

func sources() section {
	stmt := app(m.SourceStatements)
	return section{title: "Sources", groups: []group{
		{title: "Statements", widgets: []widget{
			{kind: timeseriesWidget, title: "Statements", unit: opsPerSec, width: 6,
				description: "Catalog statements run per second, by connector and statement name (a fixed set per connector, docs/connectors.md).",
				series:      one(perSecond(stmt, "connector,statement"), "statements")},
			{kind: timeseriesWidget, title: "Statement errors", unit: errorsUnit, width: 6, bars: true,
				description: "Catalog statements that failed in each interval, by connector and statement name.",
				series:      one(perInterval(stmt, "connector,statement", "result:error"), "errors")},
			{kind: timeseriesWidget, title: "Statement duration p50", unit: seconds, width: 6,
				description: "Median duration of catalog statements, from sending to the last row read, by connector and statement name.",
				series:      one(percentile("50", app(m.SourceStatementDuration), "connector,statement"), "p50")},
			{kind: timeseriesWidget, title: "Statement duration p95", unit: seconds, width: 6,
				description: "95th percentile duration of catalog statements, by connector and statement name.",
				series:      one(percentile("95", app(m.SourceStatementDuration), "connector,statement"), "p95")},
			{kind: timeseriesWidget, title: "Statement error ratio", unit: fraction, width: 12,
				description: "Failed statements over all statements per connector (no value while a connector runs none).",
				series: []series{{queries: []string{perSecond(stmt, "connector", "result:error"), perSecond(stmt, "connector")},
					alias: "error ratio"}}},
		}},
		{title: "Connections", widgets: []widget{
			{kind: timeseriesWidget, title: "Connections opened", unit: connections, bars: true,
				description: "Connections opened to sources in each interval, by connector and result (ok, error).",
				series:      one(perInterval(app(m.SourceConnections), "connector,result"), "opened")},
			{kind: timeseriesWidget, title: "Connection errors", unit: errorsUnit, bars: true,
				description: "Connections to sources that failed in each interval, by connector: wrong address, credentials or TLS settings.",
				series:      one(perInterval(app(m.SourceConnections), "connector", "result:error"), "errors")},
			{kind: timeseriesWidget, title: "Preflights", unit: operations, bars: true,
				description: "Preflights (source checks before a job extracts) answered in each interval, by result (ok, failed, invalid).",
				series:      one(perInterval(app(m.ExtractorPreflights), "result"), "preflights")},
		}},
		{title: "Secrets", widgets: []widget{
			{kind: timeseriesWidget, title: "Secret reads", unit: operations, width: 6, bars: true,
				description: "Secrets the apps read from Dapr secret stores in each interval, by app, store and result (ok, not_found, denied, error). Never the key.",
				series:      one(perInterval(app(m.SecretReads), "app,store,result"), "reads")},
			{kind: timeseriesWidget, title: "Secret read failures", unit: errorsUnit, width: 6, bars: true,
				description: "Secret reads that did not return the secret in each interval, by app, store and result.",
				series:      one(perInterval(app(m.SecretReads), "app,store,result", "!result:ok"), "failures")},
		}},
	}}
}
