package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/secure-agent/secure-agent/libs/model"
)

// tables writes tables, views, materialized views, foreign and partitioned
// tables and partitions, and the statistics of those that have any (every
// kind but views), from one statement; views supplies the definitions
// (nil: view_definition is excluded).
func (r *dbReader) tables(ctx context.Context, views *viewDefs) error {
	const what = "tables"
	rows, err := r.query(ctx, what, tablesSQL, r.withArgs(9, r.textChars())...)
	if err != nil {
		return err
	}
	var (
		schema, name             string
		relkind                  byte
		isPartition              bool
		owner, comment           pgtype.Text
		viewDef                  *string
		parentSchema, parentName pgtype.Text
		rowCount, totalBytes     pgtype.Int8
		lastAnalyzed             pgtype.Timestamptz
		table                    model.Table
		stats                    model.TableStats
	)
	for rows.Next() {
		err := rows.Scan(&schema, &name, &relkind, &isPartition, &owner, &comment,
			&parentSchema, &parentName, &rowCount, &totalBytes, &lastAnalyzed)
		if err != nil {
			return r.finish(rows, what, err)
		}
		viewDef = nil
		if views != nil && (relkind == 'v' || relkind == 'm') {
			// Read in step even for a view the filters drop.
			if viewDef, err = views.definition(ctx, schema, name); err != nil {
				rows.Close()
				return err
			}
		}
		t := r.table(schema, name)
		if !t.included {
			continue
		}
		// PostgreSQL does not record when a relation was created or last
		// altered, so CreatedAt and AlteredAt stay nil.
		table = model.Table{
			QualifiedName: t.qn, ParentQualifiedName: t.parentQN,
			Database: r.db.name, Schema: schema, Name: name,
			Kind:  tableKind(relkind, isPartition),
			Owner: textRef(&owner), Comment: textRef(&comment),
			ViewDefinition: viewDef,
		}
		if isPartition && parentName.Valid {
			p := model.Names{Connection: r.c.src.Connection, Database: r.db.name, Schema: parentSchema.String, Table: parentName.String}
			qn := p.TableQN()
			table.PartitionOf = &qn
		}
		if err := r.w.Table(table); err != nil {
			return r.finish(rows, what, err)
		}
		if relkind == 'v' {
			continue
		}
		stats = model.TableStats{
			QualifiedName: t.qn, ParentQualifiedName: t.qn, // a table's statistics belong to the table
			Database: r.db.name, Schema: schema, Table: name,
		}
		if rowCount.Valid {
			stats.RowCount = &rowCount.Int64
		}
		if totalBytes.Valid {
			stats.TotalBytes = &totalBytes.Int64
		}
		if lastAnalyzed.Valid {
			stats.LastAnalyzed = &lastAnalyzed.Time
		}
		if err := r.w.TableStats(stats); err != nil {
			return r.finish(rows, what, err)
		}
	}
	return r.finish(rows, what, nil)
}

// tableKind maps pg_class.relkind; a partition is reported as such whatever
// its own kind (a partition can itself be partitioned or foreign).
func tableKind(relkind byte, isPartition bool) string {
	if isPartition {
		return model.TableKindPartition
	}
	switch relkind {
	case 'v':
		return model.TableKindView
	case 'm':
		return model.TableKindMaterializedView
	case 'f':
		return model.TableKindForeign
	case 'p':
		return model.TableKindPartitioned
	default:
		return model.TableKindTable
	}
}
