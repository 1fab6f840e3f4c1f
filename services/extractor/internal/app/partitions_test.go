package app

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

func schemas(pairs ...any) []connector.SchemaPlan {
	var out []connector.SchemaPlan
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, connector.SchemaPlan{Name: pairs[i].(string), Tables: pairs[i+1].(int)})
	}
	return out
}

func TestPartitions(t *testing.T) {
	auto := func(n int) job.Partitioning { return job.Partitioning{By: "auto", TablesPerPartition: n} }
	tests := []struct {
		name    string
		pt      job.Partitioning
		listed  []string
		plan    []connector.DatabasePlan
		planned bool
		want    []job.Partition
	}{
		{
			name: "no planner, no databases: the whole source",
			pt:   auto(10),
			want: []job.Partition{{ID: "p000", Database: ""}},
		},
		{
			name:   "no planner: one partition per listed database",
			pt:     auto(10),
			listed: []string{"sales", "hr"},
			want:   []job.Partition{{ID: "p000", Database: "sales"}, {ID: "p001", Database: "hr"}},
		},
		{
			name:    "planned, small databases stay whole",
			pt:      auto(10),
			listed:  []string{"ignored: the plan already honours the list"},
			plan:    []connector.DatabasePlan{{Name: "a", Schemas: schemas("x", 4, "y", 6)}, {Name: "b"}},
			planned: true,
			want:    []job.Partition{{ID: "p000", Database: "a", Tables: 10}, {ID: "p001", Database: "b"}},
		},
		{
			name:    "planned, nothing selected",
			pt:      auto(10),
			planned: true,
		},
		{
			name:    "auto splits a big database into greedy schema groups in name order",
			pt:      auto(10),
			plan:    []connector.DatabasePlan{{Name: "big", Schemas: schemas("d", 3, "a", 4, "c", 5, "b", 6, "e", 0)}},
			planned: true,
			want: []job.Partition{
				{ID: "p000", Database: "big", Schemas: []string{"a", "b"}, Tables: 10},
				{ID: "p001", Database: "big", Schemas: []string{"c", "d", "e"}, Tables: 8},
			},
		},
		{
			name:    "a schema larger than the limit is a group of its own",
			pt:      auto(5),
			plan:    []connector.DatabasePlan{{Name: "big", Schemas: schemas("a", 2, "b", 40, "c", 1, "d", 5)}},
			planned: true,
			want: []job.Partition{
				{ID: "p000", Database: "big", Schemas: []string{"a"}, Tables: 2},
				{ID: "p001", Database: "big", Schemas: []string{"b"}, Tables: 40},
				{ID: "p002", Database: "big", Schemas: []string{"c"}, Tables: 1},
				{ID: "p003", Database: "big", Schemas: []string{"d"}, Tables: 5},
			},
		},
		{
			name: "IDs run across databases; only big ones split",
			pt:   auto(3),
			plan: []connector.DatabasePlan{
				{Name: "one", Schemas: schemas("s", 2, "t", 2)},
				{Name: "two", Schemas: schemas("u", 3)},
			},
			planned: true,
			want: []job.Partition{
				{ID: "p000", Database: "one", Schemas: []string{"s"}, Tables: 2},
				{ID: "p001", Database: "one", Schemas: []string{"t"}, Tables: 2},
				{ID: "p002", Database: "two", Tables: 3},
			},
		},
		{
			name:    "by database never splits",
			pt:      job.Partitioning{By: "database", TablesPerPartition: 1},
			plan:    []connector.DatabasePlan{{Name: "big", Schemas: schemas("a", 4, "b", 6)}},
			planned: true,
			want:    []job.Partition{{ID: "p000", Database: "big", Tables: 10}},
		},
		{
			name:    "a source without a database level (MySQL) is cut by schemas only",
			pt:      auto(2),
			plan:    []connector.DatabasePlan{{Name: "", Schemas: schemas("app", 2, "crm", 1, "erp", 1)}},
			planned: true,
			want: []job.Partition{
				{ID: "p000", Database: "", Schemas: []string{"app"}, Tables: 2},
				{ID: "p001", Database: "", Schemas: []string{"crm", "erp"}, Tables: 2},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Partitions(tc.pt, tc.listed, tc.plan, tc.planned)
			require.Equal(t, tc.want, got)
		})
	}
}

// Every planned schema lands in exactly one partition.
func TestPartitionsCoverEverySchemaOnce(t *testing.T) {
	var plan []connector.SchemaPlan
	for i := range 50 {
		plan = append(plan, connector.SchemaPlan{Name: string(rune('A'+i%26)) + string(rune('a'+i/26)), Tables: (i * 7) % 13})
	}
	for _, limit := range []int{1, 5, 13, 40, 1000} {
		parts := Partitions(job.Partitioning{By: "auto", TablesPerPartition: limit}, nil,
			[]connector.DatabasePlan{{Name: "db", Schemas: plan}}, true)
		seen := map[string]int{}
		total := 0
		for _, p := range parts {
			total += p.Tables
			if len(parts) > 1 && p.Tables > limit {
				require.Len(t, p.Schemas, 1, "only a single schema may exceed the limit")
			}
			for _, s := range p.Schemas {
				seen[s]++
			}
		}
		if len(parts) > 1 {
			require.Len(t, seen, len(plan))
			for s, n := range seen {
				require.Equal(t, 1, n, s)
			}
		}
		require.Equal(t, connector.DatabasePlan{Schemas: plan}.Tables(), total)
	}
}

func TestPartitionsCutABigSchemaIntoRanges(t *testing.T) {
	var tally connector.Tally
	for i := range 12345 {
		tally.Table("public", fmt.Sprintf("t%05d", i))
	}
	tally.Table("small", "x")
	plan := []connector.DatabasePlan{{Name: "db", Schemas: tally.Plans()}}
	pt := job.Partitioning{By: "auto", TablesPerPartition: 5000}
	got := Partitions(pt, nil, plan, true)
	want := []job.Partition{
		{ID: "p000", Database: "db", Schemas: []string{"public"}, Range: &model.TableRange{Before: "t05000"}, Tables: 5000},
		{ID: "p001", Database: "db", Schemas: []string{"public"}, Range: &model.TableRange{From: "t05000", Before: "t10000"}, Tables: 5000},
		{ID: "p002", Database: "db", Schemas: []string{"public"}, Range: &model.TableRange{From: "t10000"}, Tables: 2345},
		{ID: "p003", Database: "db", Schemas: []string{"small"}, Tables: 1},
	}
	require.Equal(t, want, got)
	require.Equal(t, want, Partitions(pt, nil, plan, true), "the same plan gives the same partitions")

	// A limit below the bounds' spacing cuts at every bound.
	got = Partitions(job.Partitioning{By: "auto", TablesPerPartition: 50}, nil, plan, true)
	ranges := got[:len(got)-1]
	require.Len(t, ranges, 12345/connector.BoundEvery+1)
	require.Equal(t, &model.TableRange{From: "t00100", Before: "t00200"}, ranges[1].Range)

	// Every table is in exactly one partition.
	for i := range 12345 {
		name, n := fmt.Sprintf("t%05d", i), 0
		for _, p := range ranges {
			if SourceFor(job.Spec{}, p).Tables.Has(name) {
				n++
			}
		}
		require.Equal(t, 1, n, name)
	}
}
