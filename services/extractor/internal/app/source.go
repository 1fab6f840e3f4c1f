package app

import (
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// SourceFor is the connector source of one partition of a job: the spec's
// source, narrowed to the partition's database (unless it is "", the whole
// source within the spec's databases) and schema group. The zero partition
// is the whole source, as preflight reads it.
func SourceFor(spec job.Spec, p job.Partition) connector.Source {
	src := connector.Source{
		Kind:           spec.Source.Kind,
		Connection:     spec.Connection,
		DSN:            spec.Source.DSN,
		Databases:      append([]string(nil), spec.Source.Databases...),
		Schemas:        append([]string(nil), p.Schemas...),
		Filters:        spec.Filters,
		ExcludeFields:  append([]string(nil), spec.ExcludeFields...),
		RequireTLS:     spec.Source.RequireTLS,
		ConnectTimeout: spec.Source.ConnectTimeout.D(),
	}
	if p.Database != "" {
		src.Databases = []string{p.Database}
	}
	if p.Range != nil {
		src.Tables = connector.TableRange{From: p.Range.From, Before: p.Range.Before}
	}
	return src
}
