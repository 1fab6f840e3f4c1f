package app

import (
	"fmt"
	"sort"

	"github.com/secure-agent/secure-agent/libs/job"
	"github.com/secure-agent/secure-agent/libs/model"
	"github.com/secure-agent/secure-agent/services/extractor/connector"
)

// Partitions splits a job into partitions, in order, with IDs "p000",
// "p001", ...
//
// Without a plan (the connector has no Planner) there is one partition per
// listed database, or one with Database "" meaning the whole source. With
// a plan there is one partition per planned database; with partitioning
// "auto" a database holding more than TablesPerPartition tables is split
// into schema groups: schemas in name order are added to a group while it
// stays within TablesPerPartition tables, and a single larger schema is
// split into ranges of its table names at the plan's bounds, each of at
// most TablesPerPartition tables (at least connector.BoundEvery). The
// same plan always gives the same partitions.
func Partitions(pt job.Partitioning, listed []string, plan []connector.DatabasePlan, planned bool) []job.Partition {
	var out []job.Partition
	add := func(p job.Partition) {
		p.ID = fmt.Sprintf("p%03d", len(out))
		out = append(out, p)
	}
	if !planned {
		if len(listed) == 0 {
			add(job.Partition{})
		}
		for _, db := range listed {
			add(job.Partition{Database: db})
		}
		return out
	}
	for _, db := range plan {
		total := db.Tables()
		if pt.By != "auto" || pt.TablesPerPartition < 1 || total <= pt.TablesPerPartition {
			add(job.Partition{Database: db.Name, Tables: total})
			continue
		}
		for _, g := range schemaGroups(db.Schemas, pt.TablesPerPartition) {
			if len(g.names) == 1 && g.tables > pt.TablesPerPartition && len(g.bounds) > 0 {
				for _, r := range tableRanges(g, pt.TablesPerPartition) {
					add(job.Partition{Database: db.Name, Schemas: g.names, Range: r.rng, Tables: r.tables})
				}
				continue
			}
			add(job.Partition{Database: db.Name, Schemas: g.names, Tables: g.tables})
		}
	}
	return out
}

type schemaGroup struct {
	names  []string
	tables int
	bounds []string // of a group of one schema: its plan's bounds
}

type tableRange struct {
	rng    *model.TableRange
	tables int
}

// tableRanges cuts a group of one schema at every k-th of its bounds,
// k × connector.BoundEvery being the most tables within limit (k ≥ 1).
func tableRanges(g schemaGroup, limit int) []tableRange {
	k := max(1, limit/connector.BoundEvery)
	var cuts []string
	for i := k - 1; i < len(g.bounds); i += k {
		cuts = append(cuts, g.bounds[i])
	}
	out := make([]tableRange, 0, len(cuts)+1)
	from := ""
	for _, c := range cuts {
		out = append(out, tableRange{rng: &model.TableRange{From: from, Before: c}, tables: k * connector.BoundEvery})
		from = c
	}
	out = append(out, tableRange{rng: &model.TableRange{From: from}, tables: g.tables - len(cuts)*k*connector.BoundEvery})
	return out
}

// schemaGroups packs schemas, in name order, greedily into groups of at
// most limit tables.
func schemaGroups(schemas []connector.SchemaPlan, limit int) []schemaGroup {
	sorted := append([]connector.SchemaPlan(nil), schemas...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var groups []schemaGroup
	var cur schemaGroup
	for _, s := range sorted {
		if len(cur.names) > 0 && cur.tables+s.Tables > limit {
			groups = append(groups, cur)
			cur = schemaGroup{}
		}
		cur.names = append(cur.names, s.Name)
		cur.tables += s.Tables
		cur.bounds = s.Bounds
	}
	if len(cur.names) > 0 {
		groups = append(groups, cur)
	}
	return groups
}
