package app

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/assetfilter"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

func TestSourceFor(t *testing.T) {
	spec := job.Spec{Version: 1, Connection: "default/mysql/1",
		Source: job.Source{Kind: "mysql", DSN: "u@tcp(h:3306)/", Databases: []string{"app", "crm"}, RequireTLS: true,
			ConnectTimeout: job.Duration(5 * time.Second)},
		Filters:       assetfilter.Filters{ExcludeTables: []string{`.*\.tmp`}},
		ExcludeFields: []string{"comment"},
	}
	base := connector.Source{Kind: "mysql", Connection: "default/mysql/1", DSN: "u@tcp(h:3306)/", Databases: []string{"app", "crm"},
		Filters: spec.Filters, ExcludeFields: []string{"comment"}, RequireTLS: true, ConnectTimeout: 5 * time.Second}
	tests := []struct {
		name string
		p    job.Partition
		want func(s connector.Source) connector.Source
	}{
		{"the whole source", job.Partition{}, func(s connector.Source) connector.Source { return s }},
		{"one database", job.Partition{ID: "p001", Database: "crm"}, func(s connector.Source) connector.Source {
			s.Databases = []string{"crm"}
			return s
		}},
		{"a schema group of the whole source", job.Partition{ID: "p002", Schemas: []string{"app"}}, func(s connector.Source) connector.Source {
			s.Schemas = []string{"app"}
			return s
		}},
		{"a schema group of a database", job.Partition{ID: "p003", Database: "sales", Schemas: []string{"a", "b"}}, func(s connector.Source) connector.Source {
			s.Databases, s.Schemas = []string{"sales"}, []string{"a", "b"}
			return s
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want(base), SourceFor(spec, tc.p))
		})
	}
}
