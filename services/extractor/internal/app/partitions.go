package app

import (
	"fmt"
	"sort"

	"github.com/secure-agent/secure-agent/libs/job"
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
// stays within TablesPerPartition tables, and a single larger schema is a
// group of its own.
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
			add(job.Partition{Database: db.Name, Schemas: g.names, Tables: g.tables})
		}
	}
	return out
}

type schemaGroup struct {
	names  []string
	tables int
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
	}
	if len(cur.names) > 0 {
		groups = append(groups, cur)
	}
	return groups
}
