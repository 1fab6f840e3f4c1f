package app

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/changeset"
	"github.com/secure-agent/secure-agent/libs/errkind"
	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

func newPreflighter(t *testing.T, o *fakeOpener) *Preflighter {
	t.Helper()
	p, err := NewPreflighter(o, noCreds{}, 0, nil, nil, nil)
	require.NoError(t, err)
	return p
}

func spec(dbs ...string) job.Spec {
	return job.Spec{Version: 1, Connection: "conn", Source: job.Source{Kind: "postgres", DSN: "postgres://u@h/db", Databases: dbs},
		Partitioning: job.Partitioning{TablesPerPartition: 2}}
}

func TestPreflight(t *testing.T) {
	pass := []connector.Check{{Name: "authentication", Status: connector.Pass, Detail: "ok"}}
	tests := []struct {
		name   string
		opener *fakeOpener
		spec   job.Spec
		want   job.Preflight
	}{
		{
			name:   "connector without a planner: one partition per listed database",
			opener: &fakeOpener{make: func(connector.Source) connector.Connector { return &fakeConnector{checks: pass} }},
			spec:   spec("a", "b"),
			want: job.Preflight{OK: true, Checks: []job.Check{wireOf(pass[0]),
				{Name: CheckPartitions, Status: "pass", Detail: "2 partition(s)"}},
				Partitions: []job.Partition{{ID: "p000", Database: "a"}, {ID: "p001", Database: "b"}}},
		},
		{
			name:   "connector without a planner and no databases: the whole source",
			opener: &fakeOpener{make: func(connector.Source) connector.Connector { return &fakeConnector{checks: pass} }},
			spec:   spec(),
			want: job.Preflight{OK: true, Checks: []job.Check{wireOf(pass[0]),
				{Name: CheckPartitions, Status: "pass", Detail: "1 partition(s)"}},
				Partitions: []job.Partition{{ID: "p000"}}},
		},
		{
			name: "planned and split",
			opener: &fakeOpener{make: func(connector.Source) connector.Connector {
				return plannedConnector{&fakeConnector{checks: pass}, []connector.DatabasePlan{
					{Name: "a", Schemas: []connector.SchemaPlan{{Name: "x", Tables: 2}, {Name: "y", Tables: 1}}}}}
			}},
			spec: spec("a"),
			want: job.Preflight{OK: true, Checks: []job.Check{wireOf(pass[0]), {Name: CheckPartitions, Status: "pass",
				Detail: "2 partition(s) holding 3 table(s) and view(s); databases with more than 2 tables are split into schema groups"}},
				Partitions: []job.Partition{{ID: "p000", Database: "a", Schemas: []string{"x"}, Tables: 2},
					{ID: "p001", Database: "a", Schemas: []string{"y"}, Tables: 1}}},
		},
		{
			name: "listed: the listing travels with the partitions",
			opener: &fakeOpener{make: func(connector.Source) connector.Connector {
				return listedConnector{fakeConnector: &fakeConnector{checks: pass}, listing: changeset.Listing{
					Databases: map[string]changeset.DatabaseState{"a": {Readable: true}}, ListsAllDatabases: true}}
			}},
			spec: spec("a"),
			want: job.Preflight{OK: true, Checks: []job.Check{wireOf(pass[0]), {Name: CheckPartitions, Status: "pass", Detail: "1 partition(s)"}},
				Partitions: []job.Partition{{ID: "p000", Database: "a"}},
				Listing:    &changeset.Listing{Databases: map[string]changeset.DatabaseState{"a": {Readable: true}}, ListsAllDatabases: true}},
		},
		{
			name: "a listing that cannot be read: a warning, the run deletes nothing",
			opener: &fakeOpener{make: func(connector.Source) connector.Connector {
				return listedConnector{fakeConnector: &fakeConnector{checks: pass}, err: errBoom}
			}},
			spec: spec("a"),
			want: job.Preflight{OK: true, Checks: []job.Check{wireOf(pass[0]), {Name: CheckPartitions, Status: "pass", Detail: "1 partition(s)"},
				{Name: CheckListing, Status: "warn", Detail: "list what the agent's user sees: boom; this run deletes nothing from the catalog",
					Remediation: "fix what the detail names; the next run deletes what is gone"}},
				Partitions: []job.Partition{{ID: "p000", Database: "a"}}},
		},
		{
			name: "a failing check: no plan, no partitions",
			opener: &fakeOpener{make: func(connector.Source) connector.Connector {
				return plannedConnector{&fakeConnector{checks: []connector.Check{{Name: "authentication", Status: connector.Fail,
					Detail: "refused", Remediation: "fix the password"}}}, nil}
			}},
			spec: spec("a"),
			want: job.Preflight{Checks: []job.Check{{Name: "authentication", Status: "fail", Detail: "refused", Remediation: "fix the password"}}},
		},
		{
			name:   "the connector cannot be opened: a failing connect check",
			opener: &fakeOpener{err: errBoom},
			spec:   spec("a"),
			want: job.Preflight{Checks: []job.Check{{Name: CheckConnect, Status: "fail", Detail: "boom",
				Remediation: "fix what the detail names (source.dsn, source.databases or the file), then run the preflight again"}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := newPreflighter(t, tc.opener).Preflight(context.Background(), tc.spec)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestPreflightInvalidSpec(t *testing.T) {
	o := &fakeOpener{make: func(connector.Source) connector.Connector { return &fakeConnector{} }}
	_, err := newPreflighter(t, o).Preflight(context.Background(), job.Spec{Source: job.Source{Kind: "oracle"}})
	require.Equal(t, errkind.Invalid, errkind.Of(err))
	for _, want := range []string{"version:", "connection:", "source.kind:", "source.dsn:"} {
		require.ErrorContains(t, err, want)
	}
	require.Zero(t, o.count())
}
